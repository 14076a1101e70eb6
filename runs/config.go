package runs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"genmod/models"
)

// Config is the fully resolved description of a training run. Its JSON keys
// are the CLI flag names, so a --config file (YAML or JSON) and the flags
// speak the same language, and config.json in a run folder can be edited and
// fed back.
type Config struct {
	Model   string `json:"model"`
	Data    string `json:"data"`
	DataDir string `json:"data-dir"`
	Out     string `json:"out"`

	Steps       int     `json:"steps"`
	Batch       int     `json:"batch"`
	LR          float64 `json:"lr"`
	Warmup      int     `json:"warmup"`       // linear warm-up steps
	LRSchedule  string  `json:"lr-schedule"`  // "cosine" or "constant" after warm-up
	WeightDecay float64 `json:"weight-decay"` // decoupled (AdamW) when > 0
	ClipNorm    float64 `json:"clip-norm"`    // global gradient-norm clipping, 0 = off
	EMA         float64 `json:"ema"`          // EMA decay of the weights, 0 = off
	Seed        int64   `json:"seed"`

	CheckpointEvery int `json:"checkpoint-every"`
	Keep            int `json:"keep"` // checkpoints kept on disk
	SampleEvery     int `json:"sample-every"`
	LogEvery        int `json:"log-every"`

	Dequantize bool   `json:"dequantize"` // uniform dequantization of 8-bit images
	Binarize   string `json:"binarize"`   // "", "static" or "dynamic"
	Pixels     string `json:"pixels"`     // image value range seen by the model: "symmetric" ([-1,1]) or "unit" ([0,1])

	// Distillation: the run trains a student of the model in the Teacher run
	// folder (same model and options), starting from its weights.
	Teacher      string `json:"teacher,omitempty"`       // teacher run folder
	Distill      string `json:"distill,omitempty"`       // "reflow" or "progressive"
	DistillSteps int    `json:"distill-steps,omitempty"` // the student's sampling steps
	TeacherSteps int    `json:"teacher-steps,omitempty"` // teacher steps per pair (reflow) or per student step (progressive)

	// Uses are other runs whose weights this run reads, frozen, each
	// under the scope that is its key (a two-stage model's first stage);
	// see uses.go.
	Uses map[string]string `json:"uses,omitempty"`

	// ModelOptions are the model's own options (models.Entry.Options), by
	// key. In JSON they sit beside the keys above, so a config file reads
	// like the flags; a key the model does not declare is an error.
	ModelOptions map[string]any `json:"-"`
}

// DefaultConfig holds the defaults every flag starts from.
func DefaultConfig() Config {
	return Config{
		Model:           "rf",
		Data:            "moons",
		Out:             "",
		Steps:           2000,
		Batch:           128,
		LR:              1e-3,
		Warmup:          100,
		LRSchedule:      "cosine",
		ClipNorm:        1.0,
		EMA:             0.999,
		Seed:            1,
		CheckpointEvery: 500,
		Keep:            2,
		SampleEvery:     0,
		LogEvery:        10,
		Pixels:          "symmetric",
	}
}

// Validate checks the values that do not depend on the data.
func (c *Config) Validate() error {
	var errs []string
	if c.Model == "" {
		errs = append(errs, "model is empty")
	}
	if c.Data == "" {
		errs = append(errs, "data is empty")
	}
	if c.Steps < 1 {
		errs = append(errs, fmt.Sprintf("steps must be >= 1, got %d", c.Steps))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Sprintf("batch must be >= 1, got %d", c.Batch))
	}
	if c.LR <= 0 {
		errs = append(errs, fmt.Sprintf("lr must be > 0, got %g", c.LR))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Sprintf("warmup must be >= 0, got %d", c.Warmup))
	}
	if c.LRSchedule != "cosine" && c.LRSchedule != "constant" {
		errs = append(errs, fmt.Sprintf("lr-schedule must be cosine or constant, got %q", c.LRSchedule))
	}
	if c.WeightDecay < 0 || c.ClipNorm < 0 {
		errs = append(errs, "weight-decay and clip-norm must be >= 0")
	}
	if c.EMA < 0 || c.EMA >= 1 {
		errs = append(errs, fmt.Sprintf("ema must be in [0, 1), got %g", c.EMA))
	}
	if c.CheckpointEvery < 0 || c.SampleEvery < 0 || c.LogEvery < 0 || c.Keep < 1 {
		errs = append(errs, "checkpoint-every, sample-every and log-every must be >= 0 and keep >= 1")
	}
	if c.Pixels != "symmetric" && c.Pixels != "unit" {
		errs = append(errs, fmt.Sprintf("pixels must be symmetric or unit, got %q", c.Pixels))
	}
	if (c.Teacher == "") != (c.Distill == "") {
		errs = append(errs, "teacher and distill go together: a distillation run needs both")
	}
	if c.Distill != "" && (c.DistillSteps < 1 || c.TeacherSteps < 1) {
		errs = append(errs, fmt.Sprintf("distill-steps and teacher-steps must be >= 1, got %d and %d", c.DistillSteps, c.TeacherSteps))
	}
	if err := c.validateUses(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.Model != "" {
		if _, err := c.ResolvedOptions(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ResolvedOptions are the model's options: its defaults with the config's
// values applied, validated (see models.Decode).
func (c *Config) ResolvedOptions() (any, error) {
	e, err := models.Lookup(c.Model)
	if err != nil {
		return nil, err
	}
	return models.Decode("model "+c.Model, e.Options, c.ModelOptions)
}

// ResolveOptions replaces ModelOptions by every option of the model with
// its value, defaults included, so config.json records what the run used
// even if a default changes later.
func (c *Config) ResolveOptions() error {
	o, err := c.ResolvedOptions()
	if err != nil {
		return err
	}
	c.ModelOptions = nil
	if o == nil {
		return nil
	}
	buf, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return json.Unmarshal(buf, &c.ModelOptions)
}

// configKeys are the JSON keys of Config's own fields.
var configKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}()

type configFields Config // Config without its JSON methods

// MarshalJSON writes Config's own keys, then the model's options (sorted).
func (c Config) MarshalJSON() ([]byte, error) {
	buf, err := json.Marshal(configFields(c))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(c.ModelOptions))
	for k := range c.ModelOptions {
		if configKeys[k] {
			return nil, fmt.Errorf("model option %q clashes with a config key", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := bytes.NewBuffer(buf[:len(buf)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(c.ModelOptions[k])
		if err != nil {
			return nil, fmt.Errorf("model option %s: %w", k, err)
		}
		out.WriteByte(',')
		out.Write(kb)
		out.WriteByte(':')
		out.Write(vb)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// UnmarshalJSON sets Config's own keys over c and adds every other key to
// ModelOptions (checked against the model by Validate).
func (c *Config) UnmarshalJSON(raw []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return err
	}
	own := map[string]json.RawMessage{}
	for k, v := range all {
		if configKeys[k] {
			own[k] = v
			continue
		}
		var val any
		if err := json.Unmarshal(v, &val); err != nil {
			return fmt.Errorf("option %s: %w", k, err)
		}
		if c.ModelOptions == nil {
			c.ModelOptions = map[string]any{}
		}
		c.ModelOptions[k] = val
	}
	buf, err := json.Marshal(own)
	if err != nil {
		return err
	}
	return json.Unmarshal(buf, (*configFields)(c))
}

// Set sets one of the model's options (a config key such as "hidden").
// It copies the map first, so copies of c do not see the change.
func (c *Config) Set(key string, value any) {
	m := maps.Clone(c.ModelOptions)
	if m == nil {
		m = map[string]any{}
	}
	m[key] = value
	c.ModelOptions = m
}

// AbsolutePaths makes file-based data specs and the data folder absolute, so
// the run can be resumed or sampled from another working directory.
func (c *Config) AbsolutePaths() {
	for _, prefix := range []string{"npy:", "csv:", "images:"} {
		if rest, ok := strings.CutPrefix(c.Data, prefix); ok {
			if abs, err := filepath.Abs(rest); err == nil {
				c.Data = prefix + abs
			}
		}
	}
	if c.DataDir != "" {
		if abs, err := filepath.Abs(c.DataDir); err == nil {
			c.DataDir = abs
		}
	}
	for scope, dir := range c.Uses {
		if abs, err := filepath.Abs(dir); err == nil {
			c.Uses = maps.Clone(c.Uses)
			c.Uses[scope] = abs
		}
	}
	if c.Teacher != "" {
		if abs, err := filepath.Abs(c.Teacher); err == nil {
			c.Teacher = abs
		}
	}
}

// LoadConfigFile reads a YAML or JSON config file over base. Unknown keys are
// errors (a typo must not silently fall back to a default).
func LoadConfigFile(path string, base Config) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("reading config: %w", err)
	}
	var m map[string]any
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".json" {
		err = json.Unmarshal(raw, &m)
	} else {
		err = yaml.Unmarshal(raw, &m)
	}
	if err != nil {
		return base, fmt.Errorf("config %s: %w", path, err)
	}
	if err := ApplyValues(&base, m); err != nil {
		return base, fmt.Errorf("config %s: %w", path, err)
	}
	return base, nil
}

// ApplyValues sets the config keys in m (flag names) on c. Keys that are
// not Config's own become model options, which Validate checks against
// the model.
func ApplyValues(c *Config, m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	buf, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// Copy the map: UnmarshalJSON adds to it, and c may share it with a copy.
	if c.ModelOptions != nil {
		c.ModelOptions = maps.Clone(c.ModelOptions)
	}
	if err := json.Unmarshal(buf, c); err != nil {
		return fmt.Errorf("bad key or value: %w", err)
	}
	return nil
}

// ReadConfigJSON reads a run's config.json.
func ReadConfigJSON(path string) (Config, error) {
	c := DefaultConfig()
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	c.dropLegacyOptions()
	return c, nil
}

// legacyOptionKeys are the options that every run's config.json held
// before each family declared its own (genmod 0.1.0-dev until 2026-12-04),
// whichever model the run trained.
var legacyOptionKeys = []string{"net", "hidden", "channels", "time-dim", "conditional", "label-dropout",
	"t-sampling", "target", "schedule", "levels", "layers", "latent", "beta", "k", "decoder"}

// dropLegacyOptions removes the legacy keys the run's model does not
// declare, so older run folders open as they did.
func (c *Config) dropLegacyOptions() {
	e, err := models.Lookup(c.Model)
	if err != nil {
		return
	}
	specs, err := models.Specs(e.Options)
	if err != nil {
		return
	}
	declared := map[string]bool{}
	for _, s := range specs {
		declared[s.Name] = true
	}
	for _, k := range legacyOptionKeys {
		if !declared[k] {
			delete(c.ModelOptions, k)
		}
	}
}
