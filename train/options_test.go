package train

import (
	"context"
	"genmod/runs"
	"os"
	"path/filepath"
	"testing"

	_ "genmod/models/all"
)

// Options.NoSamples leaves the samples folder empty; by default a run
// writes its pictures (here step 2 and final.png).
func TestNoSamples(t *testing.T) {
	for _, skip := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "run")
		cfg := runs.DefaultConfig()
		cfg.Model, cfg.Out, cfg.Steps, cfg.Batch, cfg.SampleEvery = "realnvp", dir, 4, 32, 2 // one-pass sampling: cheap
		o := quiet()
		o.NoSamples = skip
		if _, err := Train(context.Background(), cfg, o); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "samples"))
		if want := map[bool]int{false: 2, true: 0}[skip]; len(entries) != want {
			t.Errorf("NoSamples %v: samples folder holds %d files, want %d", skip, len(entries), want)
		}
	}
}
