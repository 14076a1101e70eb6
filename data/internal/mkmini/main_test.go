package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"genmod/data"
)

// The generator recreates the committed files byte for byte.
func TestRecreatesEmbedded(t *testing.T) {
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("full Fashion-MNIST not installed: %v", err)
	}
	out := t.TempDir()
	if err := run(data.FashionMNISTDir, out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "embedded", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed file (%d vs %d bytes)", name, len(got), len(want))
		}
	}
}
