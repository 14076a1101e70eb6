package nntest

import (
	"fmt"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// recorder captures the errors a check reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestCheckGradients(t *testing.T) {
	cases := []struct {
		name  string
		scale float64 // the custom gradient is scale × the true one
		fail  bool
	}{
		{"right gradient", 1, false},
		{"wrong gradient", 1.01, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			res := CheckBlock(rec, func(s *model.Scope, in []*Node) *Node {
				w := s.VariableWithShape("w", in[0].Shape()).NodeValue(in[0].Graph())
				y := IdentityWithCustomGradient(Mul(in[0], w), func(_, v *Node) *Node { return MulScalar(v, tc.scale) })
				return Sin(y)
			}, []*tensors.Tensor{Rand(1, 2, 3)}, nil)
			if failed := len(rec.errors) > 0; failed != tc.fail {
				t.Errorf("reported %v, want failure=%v", rec.errors, tc.fail)
			}
			if res.Checked != 12 || len(res.Vars) != 1 {
				t.Errorf("checked %d coordinates of %v, want 12 of [/w]", res.Checked, res.Vars)
			}
		})
	}
}
