package runs

import (
	"encoding/json"
	"fmt"
	"genmod/internal/checkpoint"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/fsutil"
	"genmod/internal/safetensors"
	"genmod/models"
)

// Runs that use other runs. A run may read other trained runs' weights,
// frozen, each under a scope of its own (Config.Uses): a distillation
// student reads its teacher under "teacher" (and starts from the teacher's
// weights), a two-stage model reads its first stage. The trainer builds
// the model's graphs first, which creates the variables it reads under
// each scope, then fills them from the used run's newest checkpoint (its
// EMA weights when it kept them) and marks them not trainable; the run's
// checkpoints then hold them, so sampling and resuming need no other run.
// Models that run the used model's own code (not just its weights)
// implement models.RunUser and get that model, built from the used run's
// config, which the run keeps a copy of in uses/SCOPE/.

// usedRuns are the runs this run reads, by scope: Config.Uses and a
// distillation's teacher.
func (c *Config) usedRuns() map[string]string {
	out := map[string]string{}
	for scope, dir := range c.Uses {
		out[scope] = dir
	}
	if c.Teacher != "" {
		out[models.TeacherScope] = c.Teacher
	}
	return out
}

// sortedScopes are m's keys in order, so every run builds the same way.
func sortedScopes(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateUses checks the scopes and that each used run is a run.
func (c *Config) validateUses() error {
	for _, scope := range sortedScopes(c.Uses) {
		switch {
		case scope == "" || strings.ContainsAny(scope, "/ ") || scope == EMAScope:
			return fmt.Errorf("uses: bad scope %q (a name without / or spaces, not %q)", scope, EMAScope)
		case scope == models.TeacherScope && c.Teacher != "":
			return fmt.Errorf("uses: scope %q is the distillation teacher's", scope)
		}
	}
	return nil
}

// usedConfigDir is where the run keeps the used run's config.json and data.json.
func (r *Run) usedConfigDir(scope string) string { return filepath.Join(r.Dir, "uses", scope) }

// recordUsedRuns copies each used run's config.json and data.json into the
// run folder, so the run can be opened without the other run.
func (r *Run) recordUsedRuns() error {
	for scope, dir := range r.Config.usedRuns() {
		if err := os.MkdirAll(r.usedConfigDir(scope), 0o755); err != nil {
			return fmt.Errorf("recording used run %s: %w", dir, err)
		}
		for _, name := range []string{"config.json", "data.json"} {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return fmt.Errorf("used run %s: %w", dir, err)
			}
			if err := fsutil.WriteBytesAtomic(filepath.Join(r.usedConfigDir(scope), name), raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// giveUsedModels hands a models.RunUser the model of each run it uses,
// built from the run's copy of that run's config (or the used run itself
// while the copy does not exist yet).
func giveUsedModels(r *Run, m models.Model) error {
	used := r.Config.usedRuns()
	ru, ok := m.(models.RunUser)
	if !ok {
		return nil
	}
	for _, scope := range sortedScopes(used) {
		dir := r.usedConfigDir(scope)
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
			dir = used[scope]
		}
		other := &Run{Dir: dir}
		cfg, err := ReadConfigJSON(other.ConfigPath())
		if err != nil {
			return fmt.Errorf("used run %s: %w", used[scope], err)
		}
		info, err := other.readDataInfo()
		if err != nil {
			return fmt.Errorf("used run %s: %w", used[scope], err)
		}
		info.Binary = info.IsImage() && cfg.Binarize != ""
		um, err := buildModel(cfg, info)
		if err != nil {
			return fmt.Errorf("used run %s: %w", used[scope], err)
		}
		if err := ru.UseRun(scope, um, info); err != nil {
			return fmt.Errorf("model %s cannot use run %s (model %s): %w", r.Config.Model, used[scope], cfg.Model, err)
		}
	}
	return nil
}

// runWeights are a run's newest weights by name (without "/"): its EMA
// weights when it kept them.
func runWeights(dir string) (map[string]safetensors.Tensor, error) {
	run, err := OpenRun(dir)
	if err != nil {
		return nil, err
	}
	cks, err := checkpoint.List(run.CheckpointDir())
	if err != nil || len(cks) == 0 {
		return nil, fmt.Errorf("run %s has no checkpoint", dir)
	}
	f, err := safetensors.ReadFile(cks[0].Path)
	if err != nil {
		return nil, err
	}
	var trainable []string
	if err := json.Unmarshal([]byte(f.Metadata[checkpoint.MetaTrainable]), &trainable); err != nil {
		return nil, fmt.Errorf("%s: bad %s metadata: %w", cks[0].Path, checkpoint.MetaTrainable, err)
	}
	byName := map[string]safetensors.Tensor{}
	for _, t := range f.Tensors {
		byName[t.Name] = t
	}
	out := map[string]safetensors.Tensor{}
	for _, name := range trainable {
		if strings.HasPrefix(name, EMAScope+"/") {
			continue
		}
		t, ok := byName[EMAScope+"/"+name]
		if !ok {
			t = byName[name]
		}
		out[name] = t
	}
	return out, nil
}

// setFrom sets variable v to tensor t, checking shape and dtype.
func setFrom(v *model.Variable, t safetensors.Tensor, what string) error {
	if !slices.Equal(t.Shape, v.Shape().Dimensions) {
		return fmt.Errorf("%s has shape %v, the variable %s has %v", what, t.Shape, v.Path(), v.Shape().Dimensions)
	}
	dt, ok := checkpoint.DTypeFromName(t.DType)
	if !ok || dt != v.Shape().DType {
		return fmt.Errorf("%s has dtype %s, the variable %s has %s", what, t.DType, v.Path(), v.Shape().DType)
	}
	value := tensors.FromShape(shapes.Make(dt, t.Shape...))
	if err := value.MutableBytes(func(b []byte) { copy(b, t.Data) }); err != nil {
		return err
	}
	return v.SetValue(value)
}

// LoadUsedRuns fills the variables under each used run's scope with that
// run's weights, frozen, and starts a distillation student from its
// teacher's weights. The model's graphs must have been built (they create
// the variables).
func LoadUsedRuns(store *model.Store, cfg Config) error {
	used := cfg.usedRuns()
	for _, scope := range sortedScopes(used) {
		dir := used[scope]
		w, err := runWeights(dir)
		if err != nil {
			return fmt.Errorf("used run (%s): %w", scope, err)
		}
		prefix := "/" + scope + "/"
		n := 0
		for v := range store.IterVariables() {
			if !strings.HasPrefix(v.Path(), prefix) {
				continue
			}
			name := strings.TrimPrefix(v.Path(), prefix)
			t, ok := w[name]
			if !ok {
				return fmt.Errorf("used run %s has no weight %s (read under %s): is it the model this one expects?", dir, name, scope)
			}
			if err := setFrom(v, t, "weight "+name+" of "+dir); err != nil {
				return err
			}
			v.SetTrainable(false)
			n++
		}
		if n == 0 {
			return fmt.Errorf("the model never reads the weights of the run it uses under %s (%s)", scope, dir)
		}
	}
	if cfg.Teacher == "" {
		return nil
	}
	// The student starts from the teacher: same model, same options.
	w, err := runWeights(cfg.Teacher)
	if err != nil {
		return fmt.Errorf("teacher: %w", err)
	}
	n := 0
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		name := strings.TrimPrefix(v.Path(), "/")
		t, ok := w[name]
		if !ok {
			return fmt.Errorf("teacher %s has no weight %s: is it the same model with the same options?", cfg.Teacher, name)
		}
		if err := setFrom(v, t, "teacher weight "+name); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("teacher: the student has no trainable variables")
	}
	return nil
}
