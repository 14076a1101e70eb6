package runs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"genmod/internal/fsutil"
	"genmod/models"
)

// Run is a training run's folder:
//
//	config.json      the fully resolved config
//	data.json        the data's shape and classes (sampling needs no dataset)
//	metrics.jsonl    one JSON object per logged step
//	checkpoints/     step-XXXXXXXX.safetensors
//	samples/         sample grids or plots written during and after training
type Run struct {
	Dir    string
	Config Config
}

func (r *Run) ConfigPath() string    { return filepath.Join(r.Dir, "config.json") }
func (r *Run) DataInfoPath() string  { return filepath.Join(r.Dir, "data.json") }
func (r *Run) MetricsPath() string   { return filepath.Join(r.Dir, "metrics.jsonl") }
func (r *Run) CheckpointDir() string { return filepath.Join(r.Dir, "checkpoints") }
func (r *Run) SamplesDir() string    { return filepath.Join(r.Dir, "samples") }
func (r *Run) LossPlotPath() string  { return filepath.Join(r.Dir, "loss.png") }

// Create makes a new run folder for cfg. It refuses a folder that already
// holds a run (resume it instead) or any other files, so nothing is overwritten.
func Create(dir string, cfg Config, info models.DataInfo) (*Run, error) {
	if dir == "" {
		return nil, errors.New("no output folder given")
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			return nil, fmt.Errorf("%s already holds a run (%w): resume it or choose another output folder", dir, ErrRunExists)
		}
		return nil, fmt.Errorf("output folder %s is not empty; choose an empty or new folder", dir)
	}
	r := &Run{Dir: dir, Config: cfg}
	for _, d := range []string{dir, r.CheckpointDir(), r.SamplesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating run folder: %w", err)
		}
	}
	cfg.Out = dir
	r.Config = cfg
	buf, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	ibuf, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	// data.json first: a folder with config.json counts as a run.
	if err := fsutil.WriteBytesAtomic(r.DataInfoPath(), append(ibuf, '\n')); err != nil {
		return nil, err
	}
	if err := r.recordUsedRuns(); err != nil {
		return nil, err
	}
	if err := fsutil.WriteBytesAtomic(r.ConfigPath(), append(buf, '\n')); err != nil {
		return nil, err
	}
	return r, nil
}

// readDataInfo reads data.json.
func (r *Run) readDataInfo() (models.DataInfo, error) {
	var info models.DataInfo
	raw, err := os.ReadFile(r.DataInfoPath())
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return info, fmt.Errorf("%s: %w", r.DataInfoPath(), err)
	}
	return info, nil
}

// OpenRun opens an existing run folder.
func OpenRun(dir string) (*Run, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run folder %s does not exist", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("opening run: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a run folder (not a directory)", dir)
	}
	r := &Run{Dir: dir}
	if _, err := os.Stat(r.ConfigPath()); err != nil {
		return nil, fmt.Errorf("%s is not a run folder: it has no config.json", dir)
	}
	cfg, err := ReadConfigJSON(r.ConfigPath())
	if err != nil {
		return nil, fmt.Errorf("reading run config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", r.ConfigPath(), err)
	}
	cfg.Out = dir
	r.Config = cfg
	return r, nil
}

// Metric is one line of metrics.jsonl.
type Metric struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`      // mean loss over the steps since the previous line
	LastLoss float64 `json:"last_loss"` // loss of this step's batch
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"` // of the last phase's last update
	// Losses are the mean loss of each phase of a model with its own
	// training step (models.Stepper), by phase name; Loss is the last
	// phase's.
	Losses map[string]float64 `json:"losses,omitempty"`
	// Values are the phases' own metrics (models.Phase.Metrics), means
	// since the previous line, as "phase/metric".
	Values   map[string]float64 `json:"values,omitempty"`
	StepsSec float64            `json:"steps_per_sec"`
	Elapsed  float64            `json:"elapsed_sec"`
}

// ReadMetrics reads metrics.jsonl (missing file = no metrics).
func (r *Run) ReadMetrics() ([]Metric, error) {
	f, err := os.Open(r.MetricsPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Metric
	var bad error
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if bad != nil {
			return nil, bad // a bad line that was not the last
		}
		var m Metric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// A torn last line from a killed process is expected; anything else is not.
			bad = fmt.Errorf("%s line %d: %w", r.MetricsPath(), line, err)
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// TruncateMetrics drops metric lines past step (they belong to work a resume
// is about to redo), rewriting the file atomically.
func (r *Run) TruncateMetrics(step int) error {
	ms, err := r.ReadMetrics()
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(r.MetricsPath(), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, m := range ms {
			if m.Step <= step {
				if err := enc.Encode(m); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// AppendMetric appends one line to metrics.jsonl.
func (r *Run) AppendMetric(m Metric) error {
	f, err := os.OpenFile(r.MetricsPath(), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	buf, _ := json.Marshal(m)
	_, err = f.Write(append(buf, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
