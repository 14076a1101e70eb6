package train

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"genmod/runs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"genmod/models"
)

// gan1D is the smallest two-player model with a known optimum: a 1-D GAN
// (seed 000) whose generator x = exp(s)·z + b, z ~ N(0, 1), can match the
// data N(μ, σ²) exactly, and whose discriminator logit w₂x² + w₁x + w₀ can
// represent the optimal D* = p/(p + p_g) of two Gaussians exactly (its
// logit log p − log p_g is quadratic in x). At the equilibrium the
// generator is N(μ, σ²). Two phases: k discriminator updates (Adam, β1 =
// 0.5) per generator update with the non-saturating loss; the
// discriminator's After hook counts its updates in a non-trainable
// variable and clips w₂, the kind of update outside the gradient WGAN and
// VQ-VAE need.
type gan1D struct{ k int }

const ganClip = 50.0

func (gan1D) generator(scope *model.Scope, n int, g *Graph) *Node {
	sc := scope.At("gen").WithInitializer(initializer.Zero)
	s := sc.VariableWithShape("log_scale", shapes.Make(dtypes.Float32)).NodeValue(g)
	b := sc.VariableWithShape("shift", shapes.Make(dtypes.Float32)).NodeValue(g)
	z := scope.RandomNormal(g, shapes.Make(dtypes.Float32, n, 1))
	return Add(Mul(z, Exp(s)), b)
}

func (gan1D) logit(scope *model.Scope, x *Node) *Node {
	w := scope.At("disc").WithInitializer(initializer.Zero).VariableWithShape("w", shapes.Make(dtypes.Float32, 3)).NodeValue(x.Graph())
	feats := Concatenate([]*Node{Square(x), x, OnesLike(x)}, -1) // [B, 3]
	return ReduceSum(Mul(feats, InsertAxes(w, 0)), -1)
}

func (m gan1D) dLoss(scope *model.Scope, x, _ *Node) *Node {
	fake := StopGradient(m.generator(scope, x.Shape().Dimensions[0], x.Graph()))
	return Add(ReduceAllMean(Softplus(Neg(m.logit(scope, x)))), ReduceAllMean(Softplus(m.logit(scope, fake))))
}

func (m gan1D) gLoss(scope *model.Scope, x, _ *Node) *Node {
	return ReduceAllMean(Softplus(Neg(m.logit(scope, m.generator(scope, x.Shape().Dimensions[0], x.Graph())))))
}

// Loss is not used by the trainer for a Stepper.
func (m gan1D) Loss(scope *model.Scope, x, y *Node) *Node { return m.gLoss(scope, x, y) }

func (m gan1D) Phases() []models.Phase {
	adam := models.Optimizer{LR: 0.02, Beta1: 0.5}
	return []models.Phase{
		{Name: "discriminator", Scope: "disc", Optimizer: adam, Repeat: m.k,
			Metrics: func(scope *model.Scope, x, y *Node) (*Node, map[string]*Node) {
				return m.dLoss(scope, x, y), map[string]*Node{"d_real": Sigmoid(m.logit(scope, x))}
			},
			After: func(scope *model.Scope, g *Graph) {
				d := scope.At("disc")
				count := d.WithInitializer(initializer.Zero).VariableWithShape("updates", shapes.Make(dtypes.Float32))
				count.SetTrainable(false)
				count.SetNodeValue(OnePlus(count.NodeValue(g)))
				w := d.GetVariable("w")
				w.SetNodeValue(ClipScalar(w.NodeValue(g), -ganClip, ganClip))
			}},
		{Name: "generator", Scope: "gen", Optimizer: adam, Loss: m.gLoss},
	}
}

func init() {
	models.Register(models.Entry{Name: "test-gan1d", Description: "test only: a two-player model", New: func(any, models.DataInfo) (models.Model, error) {
		return gan1D{k: 2}, nil
	}})
}

// ganData writes 4,000 draws of N(1, 0.5²) as a one-column CSV.
func ganData(t *testing.T) string {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range 4000 {
		fmt.Fprintf(&b, "%.6f\n", 1+0.5*r.NormFloat64())
	}
	path := filepath.Join(t.TempDir(), "gauss.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func ganConfig(out, data string) runs.Config {
	c := runs.DefaultConfig()
	c.Model, c.Data, c.Out = "test-gan1d", "csv:"+data, out
	c.Steps, c.Batch, c.CheckpointEvery, c.LogEvery, c.Warmup, c.EMA = 1200, 128, 50, 10, 10, 0.98 // cosine decay (the default): the players settle instead of circling the equilibrium
	return c
}

func scalar(t *testing.T, ck map[string][]byte, name string) float64 {
	t.Helper()
	b, ok := ck[name]
	if !ok || len(b) < 4 {
		t.Fatalf("checkpoint has no scalar %s (has %v)", name, keys(ck))
	}
	return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
}

// The two-player model trains through models.Stepper to its known optimum,
// each optimizer updates its own group the configured number of times, the
// After hook runs after every discriminator update, and a run killed
// between checkpoints resumes to the same bytes as one never interrupted.
func TestTwoPlayerStepper(t *testing.T) {
	ctx := context.Background()
	data := ganData(t)
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	cfg := ganConfig(a, data)
	if _, err := Train(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	ck := checkpointBytes(t, a, cfg.Steps)
	for _, w := range []string{"", "ema/"} {
		scale, shift := math.Exp(scalar(t, ck, w+"gen/log_scale")), scalar(t, ck, w+"gen/shift")
		t.Logf("%sgenerator: N(%.3f, %.3f²), data N(1, 0.5²)", w, shift, scale)
		if math.Abs(shift-1) > 0.1 || math.Abs(scale-0.5) > 0.1 {
			t.Errorf("%sgenerator is N(%.3f, %.3f²), want about N(1, 0.5²)", w, shift, scale)
		}
	}
	if got := scalar(t, ck, "disc/updates"); got != float64(2*cfg.Steps) {
		t.Errorf("After hook ran %v times, want %d (2 discriminator updates per step)", got, 2*cfg.Steps)
	}
	if d, g := scalar(t, ck, "disc/AdamOptimizer/step"), scalar(t, ck, "gen/AdamOptimizer/step"); d != float64(2*cfg.Steps) || g != float64(cfg.Steps) {
		t.Errorf("optimizer steps: discriminator %v, generator %v; want %d and %d", d, g, 2*cfg.Steps, cfg.Steps)
	}
	run, _ := runs.OpenRun(a)
	ms, _ := run.ReadMetrics()
	if len(ms) == 0 || len(ms[len(ms)-1].Losses) != 2 || ms[len(ms)-1].Losses["generator"] != ms[len(ms)-1].Loss {
		t.Errorf("metrics do not carry both players' losses: %+v", ms[len(ms)-1])
	}
	// At the equilibrium D* = p/(p + p_g) = 1/2 everywhere (Proposition 1).
	if d, ok := ms[len(ms)-1].Values["discriminator/d_real"]; !ok || math.Abs(d-0.5) > 0.05 {
		t.Errorf("D(x) at the end = %v (logged: %v), want about 1/2", d, ok)
	}

	o := quiet()
	o.StopAfter = 137
	if _, err := Train(ctx, ganConfig(b, data), o); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: err = %v, want ErrStopped", err)
	}
	if _, err := Resume(ctx, b, quiet()); err != nil {
		t.Fatal(err)
	}
	cb := checkpointBytes(t, b, cfg.Steps)
	if len(cb) != len(ck) {
		t.Fatalf("checkpoints hold %d and %d tensors", len(ck), len(cb))
	}
	for name, v := range ck {
		if string(v) != string(cb[name]) {
			t.Errorf("variable %s differs after kill and resume", name)
		}
	}
}
