package models

import (
	"fmt"
	"math"
)

// CheckRows returns an error unless x holds n ≥ 1 rows of d finite values:
// the input check of the capability methods (LogProb, Encode, Decode,
// Bounds), whose callers pass user data.
func CheckRows(what string, x []float32, n, d int) error {
	if n < 1 || len(x) != n*d {
		return fmt.Errorf("%s: got %d values for %d rows of dimension %d", what, len(x), n, d)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: row %d, value %d is not finite (%v)", what, i/d+1, i%d+1, v)
		}
	}
	return nil
}
