package train

import (
	"bytes"
	"context"
	"encoding/json"
	"genmod/runs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"genmod/internal/engine"
	"genmod/internal/safetensors"
)

// An export holds exactly the model's trainable variables, byte for byte
// the session's EMA copies (default) or raw weights, under their model
// paths, with metadata that describes the run.
func TestExportRoundTrip(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "run")
	cfg := tinyConfig(dir)
	cfg.Steps = 7
	if _, err := Train(context.Background(), cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	s, err := runs.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string // the model's variables: trainable, outside the EMA scope
	for v := range s.Store.IterVariables() {
		if v.Trainable && !strings.HasPrefix(v.Path(), "/ema/") {
			want = append(want, strings.TrimPrefix(v.Path(), "/"))
		}
	}
	sort.Strings(want)
	if len(want) != 4 { // enc and dec, weights and biases
		t.Fatalf("model variables %v, want the 4 of tinyModel", want)
	}
	for _, c := range []struct{ weights, prefix string }{{"", "/ema/"}, {runs.WeightsEMA, "/ema/"}, {runs.WeightsRaw, "/"}} {
		out := filepath.Join(root, "out-"+c.weights+".safetensors")
		info, err := runs.Export(dir, out, "", runs.ExportOptions{Format: runs.FormatSafetensors, Weights: c.weights})
		if err != nil {
			t.Fatalf("weights %q: %v", c.weights, err)
		}
		f, err := safetensors.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		params := 0
		for _, tn := range f.Tensors {
			names = append(names, tn.Name)
			v := s.Store.GetVariable(c.prefix + tn.Name)
			if v == nil {
				t.Fatalf("exported %s has no variable %s%s in the session", tn.Name, c.prefix, tn.Name)
			}
			raw, err := engine.VariableBytes(v)
			if err != nil {
				t.Fatal(err)
			}
			if tn.DType != "F32" || !slices.Equal(tn.Shape, v.Shape().Dimensions) || !bytes.Equal(tn.Data, raw) {
				t.Errorf("weights %q: %s (%s %v) differs from %s (%s)", c.weights, tn.Name, tn.DType, tn.Shape, v.Path(), v.Shape())
			}
			params += len(tn.Data) / 4
		}
		if !slices.Equal(names, want) {
			t.Errorf("weights %q: exported %v, want %v", c.weights, names, want)
		}
		wantWeights := c.weights
		if wantWeights == "" {
			wantWeights = runs.WeightsEMA
		}
		if info.Weights != wantWeights || info.Tensors != len(want) || info.Params != params || info.Step != 7 {
			t.Errorf("weights %q: info %+v (params %d)", c.weights, info, params)
		}
		m := f.Metadata
		if m[runs.MetaModel] != "test-tiny" || m[runs.MetaData] != "moons" || m[runs.MetaStep] != "7" || m[runs.MetaWeights] != wantWeights || m["format"] != "pt" {
			t.Errorf("weights %q: metadata %v", c.weights, m)
		}
		var back runs.Config
		if err := json.Unmarshal([]byte(m[runs.MetaConfig]), &back); err != nil || !reflect.DeepEqual(back, s.Run.Config) {
			t.Errorf("config metadata %s does not give back the run's config (%v)", m[runs.MetaConfig], err)
		}
	}
	// The EMA and raw weights of a trained run differ: the choice matters.
	ema, _ := safetensors.ReadFile(filepath.Join(root, "out-ema.safetensors"))
	raw, _ := safetensors.ReadFile(filepath.Join(root, "out-raw.safetensors"))
	if bytes.Equal(ema.Tensors[0].Data, raw.Tensors[0].Data) {
		t.Error("EMA and raw exports are identical after 7 steps")
	}
}

// Bad requests fail with a clear message and leave nothing behind: no
// output, no temporary file, an existing file untouched.
func TestExportBadInput(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	good := filepath.Join(root, "good")
	cfg := tinyConfig(good)
	cfg.Steps = 5
	if _, err := Train(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	noEMA := filepath.Join(root, "noema")
	cfg = tinyConfig(noEMA)
	cfg.Steps, cfg.EMA = 5, 0
	if _, err := Train(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	noCkpt := filepath.Join(root, "nockpt")
	cfg = tinyConfig(noCkpt)
	o := quiet()
	o.StopAfter = 2 // before the first checkpoint (step 5)
	if _, err := Train(ctx, cfg, o); err != ErrStopped {
		t.Fatalf("stopping early: %v", err)
	}
	plain := filepath.Join(root, "plain")
	os.MkdirAll(plain, 0o755)
	outDir := filepath.Join(root, "out")
	os.MkdirAll(outDir, 0o755)
	existing := filepath.Join(outDir, "existing.safetensors")
	os.WriteFile(existing, []byte("keep me"), 0o644)
	newOut := filepath.Join(outDir, "new.safetensors")

	cases := []struct {
		name, run, out string
		o              runs.ExportOptions
		want           string
	}{
		{"missing run", filepath.Join(root, "nosuch"), newOut, runs.ExportOptions{}, "does not exist"},
		{"not a run", plain, newOut, runs.ExportOptions{}, "not a run folder"},
		{"no checkpoint", noCkpt, newOut, runs.ExportOptions{}, "no usable checkpoint"},
		{"unknown format", good, newOut, runs.ExportOptions{Format: "onnx"}, `unknown export format "onnx"`},
		{"unknown weights", good, newOut, runs.ExportOptions{Weights: "best"}, `unknown weights "best"`},
		{"ema of a run without", noEMA, newOut, runs.ExportOptions{Weights: runs.WeightsEMA}, "kept no EMA"},
		{"existing output", good, existing, runs.ExportOptions{}, "already exists"},
		{"output is a folder", good, outDir, runs.ExportOptions{Force: true}, "is a directory"},
		{"missing output folder", good, filepath.Join(root, "nodir", "x.safetensors"), runs.ExportOptions{}, "cannot write"},
		{"no output", good, "", runs.ExportOptions{}, "no output file"},
	}
	for _, c := range cases {
		_, err := runs.Export(c.run, c.out, "", c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.want)
		}
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 1 || entries[0].Name() != "existing.safetensors" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output folder holds %v after failed exports, want only existing.safetensors", names)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing output was changed to %q", b)
	}
	// --force replaces it; the run without EMA exports its raw weights by default.
	info, err := runs.Export(noEMA, existing, "", runs.ExportOptions{Force: true})
	if err != nil || info.Weights != runs.WeightsRaw {
		t.Fatalf("forced export of a run without EMA: %+v, %v", info, err)
	}
	if _, err := safetensors.ReadFile(existing); err != nil {
		t.Error(err)
	}
}
