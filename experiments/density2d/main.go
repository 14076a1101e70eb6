// Command density2d measures how close genmod's default settings come to
// the truth on 2-D data sets whose density is known (docs/EXPERIMENTS.md,
// "Default settings on 2-D data"): every model is trained with the
// trainer's defaults (only the model, the data and the steps set, as a user
// would), then
//
//   - KL(p ‖ q) = E_p[log p(x) − log q(x)] in nats, estimated on the test
//     split with the true log p and the model's exact log q (flows, and the
//     diffusion family through the probability-flow ODE), with its standard
//     error;
//   - for the models that sample iteratively (ddpm, rf), RBF-MMD² and
//     sliced W2 of 2,000 samples of every sampler against the test split,
//     next to the floor: the same metrics between 2,000 training points and
//     the test split.
//
// The data sets: a 7-component anisotropic Gaussian mixture, a banana
// (a Gaussian bent by a parabola), a correlated Student-t with 4 degrees
// of freedom (heavy tails), all written as CSV (20,000 training rows and
// 2,222 test rows after the 10% split) and read back with csv:FILE; and
// the built-in 8gaussians and checkerboard, whose densities are closed
// forms too.
//
//	GOEXPERIMENT=simd go run ./experiments/density2d -tag after
//	GOEXPERIMENT=simd go run ./experiments/density2d -tag lr3e-3 -models realnvp -data gmm7 -set lr=3e-3
//
// -set key=value (repeatable) changes one training config key (the flag
// names of genmod train), for trying settings against the defaults.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"genmod/eval"
	"genmod/experiments/internal/expt"
	"genmod/internal/fsutil"
	"genmod/models"
	_ "genmod/models/all"
	"genmod/models/diffusion"
	"genmod/runs"
)

var (
	outDir    = flag.String("out", "docs/experiments", "folder for density2d.json")
	workDir   = flag.String("work", filepath.Join(os.TempDir(), "genmod-density2d"), "folder for the data files and training runs (reused when present)")
	tag       = flag.String("tag", "after", "name of this setting (runs and result rows are keyed by it)")
	modelList = flag.String("models", "realnvp,maf,glow,nice,ddpm,rf", "comma-separated models")
	dataList  = flag.String("data", "gmm7,banana,student4,8gaussians,checkerboard", "comma-separated data sets")
	steps     = flag.Int("steps", 5000, "training steps")
	noTrain   = flag.Bool("no-train", false, "only measure the runs already in -work")
	table     = flag.String("table", "", "print the markdown tables of -out/density2d.json comparing two tags (before,after) and exit")
	sets      multiFlag
)

func init() {
	flag.Var(&sets, "set", "key=value: a training config key to change from the defaults (repeatable)")
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Row is one measured cell: a model on a data set in one setting.
type Row struct {
	Tag     string             `json:"tag"`
	Model   string             `json:"model"`
	Data    string             `json:"data"`
	Config  string             `json:"config"` // what differs from the defaults
	Metrics map[string]float64 `json:"metrics"`
}

func main() {
	flag.Parse()
	if *table != "" {
		if err := printTables(filepath.Join(*outDir, "density2d.json"), strings.Split(*table, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "density2d:", err)
			os.Exit(1)
		}
		return
	}
	var rows []Row
	part := expt.Part{Name: "density2d", Run: func() error {
		var err error
		rows, err = run()
		return err
	}}
	expt.Main(*outDir, "", []expt.Part{part}, func() error {
		return expt.MergeRows(filepath.Join(*outDir, "density2d.json"), rows, func(r Row) string {
			return r.Tag + "/" + r.Model + "/" + r.Data
		})
	})
}

func run() ([]Row, error) {
	overrides := map[string]any{}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-set %q: want key=value", kv)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			return nil, fmt.Errorf("-set %s: %w", kv, err)
		}
		overrides[k] = val
	}
	if err := os.MkdirAll(*workDir, 0o755); err != nil {
		return nil, err
	}
	var rows []Row
	for _, name := range strings.Split(*dataList, ",") {
		ds, ok := sets2d[name]
		if !ok {
			return nil, fmt.Errorf("unknown data set %q", name)
		}
		spec, err := ds.spec(name, *workDir)
		if err != nil {
			return nil, err
		}
		var floor map[string]float64
		for _, mname := range strings.Split(*modelList, ",") {
			cfg := runs.DefaultConfig()
			cfg.Model, cfg.Data, cfg.Steps = mname, spec, *steps
			// Unconditional: 8gaussians has labels (its modes), and the
			// trainer's default would condition on them.
			cfg.CheckpointEvery, cfg.LogEvery = 0, 100
			if declares(mname, "conditional") {
				cfg.Set("conditional", false)
			}
			if err := runs.ApplyValues(&cfg, overrides); err != nil {
				return nil, err
			}
			dir, err := expt.Runs{Dir: *workDir, NoTrain: *noTrain}.Trained(*tag+"-"+mname+"-"+name, cfg, 0)
			if err == expt.ErrSkipped {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", mname, name, err)
			}
			start := time.Now()
			m, fl, err := measure(dir, ds, floor)
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", mname, name, err)
			}
			floor = fl
			m["measure_seconds"] = time.Since(start).Seconds()
			r := Row{Tag: *tag, Model: mname, Data: name, Config: strings.Join(sets, " "), Metrics: m}
			print(r)
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// declares reports whether the model has the training option key (only
// the diffusion family has "conditional"; setting an option a model does
// not declare is an error).
func declares(model, key string) bool {
	e, err := models.Lookup(model)
	return err == nil && models.Declares(e.Options, key)
}

func print(r Row) {
	fmt.Printf("   %-8s %-12s", r.Model, r.Data)
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("  %s %.4g", k, r.Metrics[k])
	}
	fmt.Println()
}

// measure scores the run in dir: the KL to the truth where the model has
// log q, and the sample metrics of each of its samplers with their floor
// (computed once per data set and passed back in).
func measure(dir string, ds dataset, floor map[string]float64) (map[string]float64, map[string]float64, error) {
	s, err := runs.Open(dir, "")
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	m := map[string]float64{}
	test := s.Test.X
	n := len(test) / 2
	if _, ok := s.Model.(models.LogProber); ok {
		if _, flow := samplers[s.Run.Config.Model]; flow {
			// The probability-flow ODE likelihood costs an adaptive
			// solve per batch: 500 test points keep it to a minute.
			n = min(n, 500)
		}
		t0 := time.Now()
		lq, err := s.LogProb(test[:2*n], n, 2)
		if err != nil {
			return nil, nil, err
		}
		var sum, sum2, nll float64
		for i := range n {
			d := ds.logp(float64(test[2*i]), float64(test[2*i+1])) - lq[i]
			sum, sum2, nll = sum+d, sum2+d*d, nll-lq[i]
		}
		mean := sum / float64(n)
		m["kl"] = mean
		m["kl_se"] = math.Sqrt((sum2/float64(n) - mean*mean) / float64(n))
		m["nll"] = nll / float64(n)
		m["kl_n"] = float64(n)
		fmt.Printf("   log q of %d test points: %s\n", n, time.Since(t0).Round(time.Second))
	}
	samplers := samplers[s.Run.Config.Model]
	const ns = 2000
	if len(samplers) > 0 && floor == nil {
		// The floor is what 2,000 draws of the truth itself score: the
		// mean over five disjoint sets of training points (one set's
		// MMD² is as noisy as the value and can be negative).
		floor = map[string]float64{}
		const sets = 5
		for k := range sets {
			fm, err := pointMetrics(s.Train.X[2*ns*k:2*ns*(k+1)], test[:2*ns])
			if err != nil {
				return nil, nil, err
			}
			for name, v := range fm {
				floor[name] += v / sets
			}
		}
	}
	for _, do := range samplers {
		so := runs.SampleOptions{N: ns, Seed: 7, Class: -1, Model: do}
		t0 := time.Now()
		sm, err := s.Sample(so)
		fmt.Printf("   %s sampler: %s\n", do.Sampler, time.Since(t0).Round(time.Second))
		if err != nil {
			return nil, nil, fmt.Errorf("sampler %s: %w", do.Sampler, err)
		}
		pm, err := pointMetrics(sm.X, test[:2*ns])
		if err != nil {
			return nil, nil, err
		}
		for k, v := range pm {
			m[do.Sampler+"_"+k] = v
			m[do.Sampler+"_"+k+"_x_floor"] = v / floor[k]
		}
	}
	for k, v := range floor {
		if len(samplers) > 0 {
			m["floor_"+k] = v
		}
	}
	return m, floor, nil
}

// samplers are the samplers measured for the models that sample
// iteratively: every kind of step their path allows (ancestral, DDIM,
// adaptive PF-ODE; Euler, Heun, adaptive RK45), at the default steps.
var samplers = map[string][]diffusion.SampleOptions{
	"ddpm": {{Sampler: "ddpm"}, {Sampler: "ddim"}, {Sampler: "ode"}},
	"rf":   {{Sampler: "euler"}, {Sampler: "heun"}, {Sampler: "rk45"}},
}

// pointMetrics is RBF-MMD² (median-heuristic bandwidths) and sliced W2.
func pointMetrics(a, b []float32) (map[string]float64, error) {
	pa, pb := points(a), points(b)
	bw, err := eval.DefaultBandwidths(pa, pb)
	if err != nil {
		return nil, err
	}
	mmd, err := eval.MMD(pa, pb, bw)
	if err != nil {
		return nil, err
	}
	swd, err := eval.SlicedW(pa, pb, 256, 1)
	if err != nil {
		return nil, err
	}
	return map[string]float64{"mmd": mmd, "swd": swd}, nil
}

func points(x []float32) [][]float64 {
	out := make([][]float64, len(x)/2)
	for i := range out {
		out[i] = []float64{float64(x[2*i]), float64(x[2*i+1])}
	}
	return out
}

// dataset is a 2-D distribution with a closed-form log-density: a built-in
// toy set (name) or one written to a CSV file by gen.
type dataset struct {
	builtin string
	gen     func(r *rand.Rand) (float64, float64)
	logp    func(x, y float64) float64
}

// csvRows is 20,000 training rows after the 10% test split of csv: sources.
const csvRows = 22222

// spec returns the data spec of the set called name, writing its CSV file
// into dir first if it is not there.
func (d dataset) spec(name, dir string) (string, error) {
	if d.builtin != "" {
		return d.builtin, nil
	}
	path := filepath.Join(dir, name+".csv")
	if _, err := os.Stat(path); err == nil {
		return "csv:" + path, nil
	}
	r := rand.New(rand.NewPCG(2026, uint64(len(name))))
	var b strings.Builder
	b.WriteString("x,y\n")
	for range csvRows {
		x, y := d.gen(r)
		fmt.Fprintf(&b, "%.7g,%.7g\n", x, y)
	}
	if err := fsutil.WriteBytesAtomic(path, []byte(b.String())); err != nil {
		return "", err
	}
	return "csv:" + path, nil
}

var sets2d = map[string]dataset{
	"gmm7":         {gen: gmm7.sample, logp: gmm7.logp},
	"banana":       {gen: bananaSample, logp: bananaLogp},
	"student4":     {gen: student.sample, logp: student.logp},
	"8gaussians":   {builtin: "8gaussians", logp: eightGaussians.logp},
	"checkerboard": {builtin: "checkerboard", logp: checkerboardLogp},
	// gmm7 standardized (its per-axis standard deviations are about 2.1
	// and 2.2): the KL is invariant under the map, so it isolates the data's
	// scale.
	"gmm7-std": scaled(dataset{gen: gmm7.sample, logp: gmm7.logp}, 1/2.15),
}

// scaled is d mapped by x → c·x: log p_c(x) = log p(x/c) − 2 log c.
func scaled(d dataset, c float64) dataset {
	return dataset{
		gen: func(r *rand.Rand) (float64, float64) {
			x, y := d.gen(r)
			return c * x, c * y
		},
		logp: func(x, y float64) float64 { return d.logp(x/c, y/c) - 2*math.Log(c) },
	}
}

// gauss2 is a 2-D Gaussian N(mu, Σ) with Σ = R·diag(sx², sy²)·Rᵀ, R the
// rotation by theta.
type gauss2 struct{ mx, my, sx, sy, theta float64 }

func (g gauss2) sample(r *rand.Rand) (float64, float64) {
	u, v := g.sx*r.NormFloat64(), g.sy*r.NormFloat64()
	c, s := math.Cos(g.theta), math.Sin(g.theta)
	return g.mx + c*u - s*v, g.my + s*u + c*v
}

func (g gauss2) logp(x, y float64) float64 {
	c, s := math.Cos(g.theta), math.Sin(g.theta)
	dx, dy := x-g.mx, y-g.my
	u, v := c*dx+s*dy, -s*dx+c*dy // rotate back
	return -0.5*(u*u/(g.sx*g.sx)+v*v/(g.sy*g.sy)) - math.Log(2*math.Pi*g.sx*g.sy)
}

// mixture is Σ_k w_k N(·; g_k).
type mixture struct {
	w []float64
	g []gauss2
}

func (m mixture) sample(r *rand.Rand) (float64, float64) {
	u, k := r.Float64(), 0
	for k < len(m.w)-1 && u > m.w[k] {
		u -= m.w[k]
		k++
	}
	return m.g[k].sample(r)
}

func (m mixture) logp(x, y float64) float64 {
	lps := make([]float64, len(m.w))
	hi := math.Inf(-1)
	for k := range m.w {
		lps[k] = math.Log(m.w[k]) + m.g[k].logp(x, y)
		hi = max(hi, lps[k])
	}
	s := 0.0
	for _, l := range lps {
		s += math.Exp(l - hi)
	}
	return hi + math.Log(s)
}

// gmm7: seven anisotropic components of unequal weight, spread over
// [-4, 4]², elongated 2-5x, some overlapping.
var gmm7 = mixture{
	w: []float64{0.22, 0.18, 0.15, 0.14, 0.12, 0.10, 0.09},
	g: []gauss2{
		{-2.5, 2.0, 0.8, 0.25, 0.5},
		{1.5, 2.8, 0.6, 0.2, -0.3},
		{3.0, -0.5, 0.3, 0.9, 0.2},
		{0.0, 0.0, 0.5, 0.5, 0},
		{-3.0, -2.5, 0.7, 0.3, 1.2},
		{0.8, -3.0, 1.0, 0.25, 0.1},
		{-0.8, 1.2, 0.35, 0.15, 2.0},
	},
}

// eightGaussians is data.Toy's 8gaussians: modes at 4/1.414 times the 8
// unit directions, standard deviation 0.5/1.414.
var eightGaussians = func() mixture {
	m := mixture{}
	s := 1 / math.Sqrt2
	for _, c := range [8][2]float64{{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {s, s}, {s, -s}, {-s, s}, {-s, -s}} {
		m.w = append(m.w, 1.0/8)
		m.g = append(m.g, gauss2{4 * c[0] / 1.414, 4 * c[1] / 1.414, 0.5 / 1.414, 0.5 / 1.414, 0})
	}
	return m
}()

// checkerboardLogp is data.Toy's checkerboard: uniform on 8 squares of side
// 2 in [-4, 4]² (log 1/32 inside them, -Inf elsewhere; test points are
// inside by construction).
func checkerboardLogp(x, y float64) float64 { return -math.Log(32) }

// banana: x ~ N(0, 1.5²), y | x ~ N(x²/4 − 1, 0.4²).
func bananaSample(r *rand.Rand) (float64, float64) {
	x := 1.5 * r.NormFloat64()
	return x, x*x/4 - 1 + 0.4*r.NormFloat64()
}

func bananaLogp(x, y float64) float64 {
	return normLogp(x, 0, 1.5) + normLogp(y, x*x/4-1, 0.4)
}

func normLogp(x, mu, sd float64) float64 {
	z := (x - mu) / sd
	return -0.5*z*z - math.Log(sd) - 0.5*math.Log(2*math.Pi)
}

// studentT is a bivariate Student-t with nu degrees of freedom and scale
// matrix [[1, rho], [rho, 1]] times scale²: heavy tails (polynomial, not
// Gaussian) that a Gaussian base must stretch to reach.
type studentT struct{ nu, rho, scale float64 }

var student = studentT{nu: 4, rho: 0.5, scale: 1}

func (t studentT) sample(r *rand.Rand) (float64, float64) {
	// z ~ N(0, Σ), w ~ χ²_ν: z / sqrt(w/ν).
	u, v := r.NormFloat64(), r.NormFloat64()
	zx, zy := u, t.rho*u+math.Sqrt(1-t.rho*t.rho)*v
	var w float64
	for range int(t.nu) {
		g := r.NormFloat64()
		w += g * g
	}
	f := t.scale / math.Sqrt(w/t.nu)
	return zx * f, zy * f
}

func (t studentT) logp(x, y float64) float64 {
	x, y = x/t.scale, y/t.scale
	det := 1 - t.rho*t.rho
	delta := (x*x - 2*t.rho*x*y + y*y) / det
	lg1, _ := math.Lgamma((t.nu + 2) / 2)
	lg2, _ := math.Lgamma(t.nu / 2)
	return lg1 - lg2 - math.Log(t.nu*math.Pi) - 0.5*math.Log(det) - (t.nu+2)/2*math.Log1p(delta/t.nu) - 2*math.Log(t.scale)
}

// printTables prints the KL table (each cell: the first tag's KL → the
// second's, ± the second's standard error) and the samplers' table (the
// last tag's MMD² and sliced W2 as multiples of the floor) in markdown.
func printTables(path string, tags []string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rows []Row
	if err := json.Unmarshal(raw, &rows); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	get := func(tag, model, data string) map[string]float64 {
		for _, r := range rows {
			if r.Tag == tag && r.Model == model && r.Data == data {
				return r.Metrics
			}
		}
		return nil
	}
	datasets, mods := strings.Split(*dataList, ","), strings.Split(*modelList, ",")
	fmt.Printf("| model | %s |\n|---|%s\n", strings.Join(datasets, " | "), strings.Repeat("---:|", len(datasets)))
	for _, mname := range mods {
		fmt.Printf("| %s |", mname)
		for _, d := range datasets {
			var cell []string
			var se float64
			for _, tag := range tags {
				if m := get(tag, mname, d); m != nil {
					if kl, ok := m["kl"]; ok {
						cell = append(cell, fmt.Sprintf("%.3f", kl))
						se = m["kl_se"]
					}
				}
			}
			if len(cell) == 0 {
				fmt.Print(" – |")
				continue
			}
			fmt.Printf(" %s ± %.3f |", strings.Join(cell, " → "), se)
		}
		fmt.Println()
	}
	last := tags[len(tags)-1]
	fmt.Printf("\n| model | sampler | %s |\n|---|---|%s\n", strings.Join(datasets, " | "), strings.Repeat("---:|", len(datasets)))
	for _, mname := range mods {
		for _, so := range samplers[mname] {
			fmt.Printf("| %s | %s |", mname, so.Sampler)
			for _, d := range datasets {
				m := get(last, mname, d)
				if m == nil {
					fmt.Print(" – |")
					continue
				}
				fmt.Printf(" %.2g / %.2f |", m[so.Sampler+"_mmd_x_floor"], m[so.Sampler+"_swd_x_floor"])
			}
			fmt.Println()
		}
	}
	return nil
}
