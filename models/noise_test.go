package models

import "testing"

func TestNoiseIsSeeded(t *testing.T) {
	a, b, c := Noise(10, 3, 1), Noise(10, 3, 1), Noise(10, 3, 2)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed, different noise")
		}
	}
	if a[0] == c[0] && a[1] == c[1] {
		t.Fatal("different seeds, same noise")
	}
}
