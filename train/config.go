package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

	models.Options
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
		Options: models.Options{
			Conditional:  true,
			LabelDropout: 0.1,
			TSampling:    "uniform",
			TimeDim:      64,
		},
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
	if c.LabelDropout < 0 || c.LabelDropout > 1 {
		errs = append(errs, fmt.Sprintf("label-dropout must be in [0, 1], got %g", c.LabelDropout))
	}
	if c.Levels < 0 || c.Layers < 0 {
		errs = append(errs, fmt.Sprintf("levels and layers must be >= 1 (0 = the model's default), got %d and %d", c.Levels, c.Layers))
	}
	if (c.Teacher == "") != (c.Distill == "") {
		errs = append(errs, "teacher and distill go together: a distillation run needs both")
	}
	if c.Distill != "" && (c.DistillSteps < 1 || c.TeacherSteps < 1) {
		errs = append(errs, fmt.Sprintf("distill-steps and teacher-steps must be >= 1, got %d and %d", c.DistillSteps, c.TeacherSteps))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// absolutePaths makes file-based data specs and the data folder absolute, so
// the run can be resumed or sampled from another working directory.
func (c *Config) absolutePaths() {
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

// ApplyValues sets the config keys in m (flag names) on c, rejecting unknown keys.
func ApplyValues(c *Config, m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	buf, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
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
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
