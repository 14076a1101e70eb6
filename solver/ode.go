// Package solver integrates the ODEs that flow and diffusion models sample
// with: dx/dt = v(x, t), integrated along a time grid. Solvers work on flat
// float32 slices so the same code drives a neural velocity (one graph call
// per evaluation) and the closed-form fields used in tests.
package solver

import "fmt"

// Field evaluates the velocity v(x, t) for a batch flattened into x and
// writes it into out (same length as x).
type Field func(x []float32, t float64, out []float32) error

// Method names a fixed-step ODE solver.
type Method string

const (
	Euler Method = "euler" // first order, one evaluation per step
	Heun  Method = "heun"  // second order (trapezoidal predictor-corrector), two evaluations per step
	RK4   Method = "rk4"   // classical fourth-order Runge-Kutta, four evaluations per step
)

// Methods lists the available fixed-step solver names.
func Methods() []string { return []string{string(Euler), string(Heun), string(RK4)} }

// ParseMethod validates a solver name.
func ParseMethod(name string) (Method, error) {
	switch Method(name) {
	case Euler, Heun, RK4:
		return Method(name), nil
	}
	return "", fmt.Errorf("unknown solver %q (valid: %v)", name, Methods())
}

// UniformGrid returns steps+1 times evenly spaced from t0 to t1 (inclusive).
// With steps < 1 it returns just {t0}, which Integrate rejects.
func UniformGrid(t0, t1 float64, steps int) []float64 {
	if steps < 1 {
		return []float64{t0}
	}
	ts := make([]float64, steps+1)
	for i := range ts {
		ts[i] = t0 + (t1-t0)*float64(i)/float64(steps)
	}
	ts[steps] = t1
	return ts
}

// Integrate advances x in place along the time grid ts with the given method.
// progress, if not nil, is called after each step with (done, total).
func Integrate(method Method, f Field, x []float32, ts []float64, progress func(done, total int)) error {
	if len(ts) < 2 {
		return fmt.Errorf("time grid needs at least 2 points, got %d", len(ts))
	}
	steps := len(ts) - 1
	v := make([]float32, len(x))
	var xPred, v2, v3, v4 []float32
	if method == Heun || method == RK4 {
		xPred = make([]float32, len(x))
		v2 = make([]float32, len(x))
	}
	if method == RK4 {
		v3 = make([]float32, len(x))
		v4 = make([]float32, len(x))
	}
	for i := 0; i < steps; i++ {
		t, dt := ts[i], ts[i+1]-ts[i]
		if err := f(x, t, v); err != nil {
			return fmt.Errorf("step %d (t=%.4g): %w", i+1, t, err)
		}
		switch method {
		case Euler:
			axpy(x, float32(dt), v)
		case Heun:
			copy(xPred, x)
			axpy(xPred, float32(dt), v)
			if err := f(xPred, ts[i+1], v2); err != nil {
				return fmt.Errorf("step %d (t=%.4g): %w", i+1, ts[i+1], err)
			}
			h := float32(dt / 2)
			for j := range x {
				x[j] += h * (v[j] + v2[j])
			}
		case RK4:
			mid := t + dt/2
			for _, st := range []struct {
				at   float64
				h    float64
				from []float32
				out  []float32
			}{{mid, dt / 2, v, v2}, {mid, dt / 2, v2, v3}, {ts[i+1], dt, v3, v4}} {
				copy(xPred, x)
				axpy(xPred, float32(st.h), st.from)
				if err := f(xPred, st.at, st.out); err != nil {
					return fmt.Errorf("step %d (t=%.4g): %w", i+1, st.at, err)
				}
			}
			h := float32(dt / 6)
			for j := range x {
				x[j] += h * (v[j] + 2*v2[j] + 2*v3[j] + v4[j])
			}
		default:
			return fmt.Errorf("unknown solver %q (valid: %v)", method, Methods())
		}
		if progress != nil {
			progress(i+1, steps)
		}
	}
	return nil
}

// axpy computes x += a*y.
func axpy(x []float32, a float32, y []float32) {
	for j := range x {
		x[j] += a * y[j]
	}
}
