package train

import (
	"context"
	"errors"
	"genmod/runs"
	"path/filepath"
	"testing"
)

// Close is idempotent, a closed session answers runs.ErrClosed instead of
// panicking, and closing one session leaves the others (which share its
// backend) working.
func TestSessionClose(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "run")
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Out, cfg.Steps, cfg.Batch = "realnvp", dir, 2, 32 // a sampler with an exact likelihood
	o := quiet()
	o.NoSamples = true
	if _, err := Train(context.Background(), cfg, o); err != nil {
		t.Fatal(err)
	}
	s, err := runs.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := runs.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	so := runs.SampleOptions{N: 4, Class: -1, Seed: 1}
	sm, err := s.Sample(so)
	if err != nil {
		t.Fatal(err)
	}
	testX := s.Test.X // slices taken before Close stay valid
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(testX) == 0 || s.Run == nil || s.Info.Dim() != 2 {
		t.Errorf("after Close: test split %d values, runs.Run %v, data dim %d; want them kept", len(testX), s.Run, s.Info.Dim())
	}
	out := filepath.Join(root, "x.csv")
	for name, call := range map[string]func() error{
		"Sample":       func() error { _, err := s.Sample(so); return err },
		"LogProb":      func() error { _, err := s.LogProb(sm.X, sm.N, 2); return err },
		"WriteSamples": func() error { return s.WriteSamples(out, "csv", sm, "") },
		"WriteDensity": func() error { return s.WriteDensity(filepath.Join(root, "d.png"), 8) },
		"Export": func() error {
			_, err := s.Export(filepath.Join(root, "w.safetensors"), runs.ExportOptions{})
			return err
		},
		"ModelTensors": func() error { _, _, err := s.ModelTensors(""); return err },
	} {
		if err := call(); !errors.Is(err, runs.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	var none *runs.Session
	if err := none.Close(); err != nil {
		t.Errorf("Close of a nil session: %v", err)
	}
	again, err := other.Sample(so)
	if err != nil {
		t.Fatalf("another session of the run after Close: %v", err)
	}
	for i := range sm.X {
		if again.X[i] != sm.X[i] {
			t.Fatalf("another session samples differently after Close: %v, want %v", again.X, sm.X)
		}
	}
	fresh, err := runs.Open(dir, "") // the shared backend still works for new sessions
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer fresh.Close()
	if _, err := fresh.Sample(so); err != nil {
		t.Fatalf("a session opened after Close: %v", err)
	}
}
