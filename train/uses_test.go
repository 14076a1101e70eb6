package train

import (
	"bytes"
	"context"
	"genmod/runs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

// stackedModel is a second stage: it runs the used run's model (a
// tinyModel) on its input under the scope "first" and fits a dense layer
// of its own on top.
type stackedModel struct{ used *[]string }

func (m stackedModel) UseRun(scope string, um models.Model, info models.DataInfo) error {
	if _, ok := um.(tinyModel); !ok {
		return nil
	}
	*m.used = append(*m.used, scope)
	return nil
}

func (m stackedModel) Loss(scope *model.Scope, x, labels *Node) *Node {
	first := tinyModel{}.Loss(scope.In("first"), x, labels) // reads /first/net/..., frozen
	y := layers.Dense(scope.In("head"), x, true, x.Shape().Dimensions[1])
	return Add(ReduceAllMean(Square(Sub(y, x))), MulScalar(first, 0))
}

var stackedUses []string

func init() {
	models.Register(models.Entry{Name: "test-stacked", Description: "test only: uses another run", New: func(any, models.DataInfo) (models.Model, error) {
		return stackedModel{used: &stackedUses}, nil
	}})
}

// A run that uses another run reads its final weights under the scope,
// never changes them, records the used run's config, and opens once that
// run is gone; the model gets the used run's model through UseRun.
func TestRunUsesAnotherRunFrozen(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	first, second := filepath.Join(root, "first"), filepath.Join(root, "second")
	if _, err := Train(ctx, tinyConfig(first), quiet()); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(second)
	cfg.Model, cfg.Uses = "test-stacked", map[string]string{"first": first}
	stackedUses = nil
	if _, err := Train(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	if len(stackedUses) != 1 || stackedUses[0] != "first" {
		t.Errorf("UseRun calls: %v, want one for scope first", stackedUses)
	}
	a := checkpointBytes(t, first, cfg.Steps)
	b := checkpointBytes(t, second, cfg.Steps)
	frozen := 0
	for name, data := range b {
		rest, ok := strings.CutPrefix(name, "first/")
		if !ok || strings.Contains(name, "optimizer") {
			continue
		}
		// The used run kept an EMA: those are the weights a run uses.
		if !bytes.Equal(data, a["ema/"+rest]) {
			t.Errorf("%s differs from the used run's ema/%s", name, rest)
		}
		frozen++
	}
	if frozen != 4 { // enc and dec: weights and biases
		t.Errorf("%d frozen tensors, want 4", frozen)
	}
	for name := range b {
		if strings.HasPrefix(name, "ema/first/") {
			t.Errorf("frozen weights have an EMA copy: %s", name)
		}
	}
	if _, err := os.Stat(filepath.Join(second, "uses", "first", "config.json")); err != nil {
		t.Errorf("the run does not record the used run: %v", err)
	}
	if err := os.RemoveAll(first); err != nil {
		t.Fatal(err)
	}
	stackedUses = nil
	s, err := runs.Open(second, "")
	if err != nil {
		t.Fatalf("open without the used run: %v", err)
	}
	s.Close()
	if len(stackedUses) != 1 {
		t.Errorf("Open gave the model %d used models, want 1", len(stackedUses))
	}
	// A bad scope or a used folder that is no run is refused before any work.
	for _, c := range []struct {
		uses map[string]string
		want string
	}{
		{map[string]string{"a/b": second}, "bad scope"},
		{map[string]string{"first": filepath.Join(root, "nothing")}, "nothing"},
	} {
		cfg := tinyConfig(filepath.Join(root, "bad"))
		cfg.Model, cfg.Uses = "test-stacked", c.uses
		if _, err := Train(ctx, cfg, quiet()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("uses %v: err = %v, want it to mention %q", c.uses, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(root, "bad")); err == nil {
			t.Errorf("uses %v: a run folder was left behind", c.uses)
		}
	}
}
