package viz

import (
	"math"
	"strings"
	"testing"
)

func TestCurvesFromJSONL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ys      []string
		wantX   [][]float64
		wantY   [][]float64
		wantErr string
	}{
		{
			name:  "two keys, one sparse",
			in:    "{\"step\":0,\"loss\":2.5}\n{\"step\":10,\"loss\":1.5,\"eval_loss\":1.7}\n\n{\"step\":20,\"loss\":1}\n",
			ys:    []string{"loss", "eval_loss"},
			wantX: [][]float64{{0, 10, 20}, {10}},
			wantY: [][]float64{{2.5, 1.5, 1}, {1.7}},
		},
		{
			name:  "lines without x are skipped, null is NaN",
			in:    "{\"event\":\"start\"}\n{\"step\":1,\"loss\":null}\n{\"step\":2,\"loss\":3}\n",
			ys:    []string{"loss"},
			wantX: [][]float64{{1, 2}},
			wantY: [][]float64{{math.NaN(), 3}},
		},
		{
			name:  "cut-short last line is ignored",
			in:    "{\"step\":1,\"loss\":3}\n{\"step\":2,\"lo",
			ys:    []string{"loss"},
			wantX: [][]float64{{1}},
			wantY: [][]float64{{3}},
		},
		{
			name:  "complete last line without newline is read",
			in:    "{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":4}",
			ys:    []string{"loss"},
			wantX: [][]float64{{1, 2}},
			wantY: [][]float64{{3, 4}},
		},
		{
			name:    "malformed middle line",
			in:      "{\"step\":1,\"loss\":3}\nnot json\n{\"step\":2,\"loss\":4}\n",
			ys:      []string{"loss"},
			wantErr: "line 2",
		},
		{
			name:    "string value",
			in:      "{\"step\":1,\"loss\":\"low\"}\n",
			ys:      []string{"loss"},
			wantErr: "not a number",
		},
		{
			name:    "no y keys",
			in:      "{}\n",
			wantErr: "no y keys",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CurvesFromJSONL(strings.NewReader(tt.in), "step", tt.ys...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range got {
				if s.Name != tt.ys[i] {
					t.Errorf("series %d named %q, want %q", i, s.Name, tt.ys[i])
				}
				if !sameFloats(s.X, tt.wantX[i]) || !sameFloats(s.Y, tt.wantY[i]) {
					t.Errorf("series %q = %v, %v; want %v, %v", s.Name, s.X, s.Y, tt.wantX[i], tt.wantY[i])
				}
			}
		})
	}
}

// sameFloats compares slices treating NaN as equal to NaN.
func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}
