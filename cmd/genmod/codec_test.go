package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"genmod/data"
)

// encode then decode of a trained flow on vectors gives the rows back, and
// encode reports the log-likelihood.
func TestEncodeDecodeVectors(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "flow")
	if out, err := genmod(t, "train", "--model", "glow", "--data", "moons", "--steps", "40", "--batch", "64",
		"--hidden", "16,16", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	in := []float32{0.5, 0.3, -1, 0.2, 1.5, -0.4, 0, 0}
	pts := writeFile(t, dir, "p.csv", "x,y\n0.5,0.3\n-1,0.2\n1.5,-0.4\n0,0\n")
	z := filepath.Join(dir, "z.npy")
	out, err := genmod(t, "encode", "--run", run, "--input", pts, "--out", z)
	if err != nil || !strings.Contains(out, "mean log p(x)") {
		t.Fatalf("encode: %v\n%s", err, out)
	}
	zs, rows, cols, err := data.ReadNPY(z)
	if err != nil || rows != 4 || cols != 2 {
		t.Fatalf("z.npy: %v, %dx%d", err, rows, cols)
	}
	back := filepath.Join(dir, "x.npy")
	if out, err := genmod(t, "decode", "--run", run, "--input", z, "--out", back); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	xs, _, _, err := data.ReadNPY(back)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0.0
	for i := range in {
		moved = math.Max(moved, math.Abs(float64(zs[i]-in[i])))
		if math.Abs(float64(xs[i]-in[i])) > 1e-4 {
			t.Errorf("decode(encode(x))[%d] = %g, want %g", i, xs[i], in[i])
		}
	}
	if moved < 1e-2 {
		t.Errorf("z equals x: the trained flow is the identity?")
	}
	if out, err := genmod(t, "decode", "--run", run, "--input", writeFile(t, dir, "w.csv", "1,2,3\n"), "--out", back, "--force"); err == nil || !strings.Contains(out, "latents have 2") {
		t.Errorf("3-wide latents for a 2-D model: %v\n%s", err, out)
	}
	if out, err := genmod(t, "encode", "--run", run, "--input", pts); err == nil || !strings.Contains(out, "--out") {
		t.Errorf("encode without --out: %v\n%s", err, out)
	}
}

// A glow trained briefly on dequantized Fashion-MNIST images: encode of the
// test split prints bits/dim, and decode of the latents gives the test
// images back (the 8-bit pixel levels: dequantization noise is floored away).
func TestEncodeDecodeImages(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "glow")
	if out, err := genmod(t, "train", "--model", "glow", "--data", "fashion-mnist-mini", "--dequantize", "--steps", "3",
		"--batch", "8", "--channels", "8", "--warmup", "1", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	z := filepath.Join(dir, "z.npy")
	const n = 12
	out, err := genmod(t, "encode", "--run", run, "--split", "test", "--n", "12", "--out", z)
	if err != nil || !strings.Contains(out, "bits/dim = ") {
		t.Fatalf("encode: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
	back := filepath.Join(dir, "x.npy")
	for _, f := range []string{back, filepath.Join(dir, "x.png")} {
		if out, err := genmod(t, "decode", "--run", run, "--input", z, "--out", f); err != nil {
			t.Fatalf("decode: %v\n%s", err, out)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "x.png")); err != nil || st.Size() == 0 {
		t.Errorf("no picture: %v", err)
	}
	xs, rows, cols, err := data.ReadNPY(back)
	if err != nil || rows != n || cols != 784 {
		t.Fatalf("x.npy: %v, %dx%d", err, rows, cols)
	}
	_, test, err := data.FashionMNISTMini()
	if err != nil {
		t.Fatal(err)
	}
	exact := 0
	for i, v := range xs {
		want := test.X[i]
		if d := math.Abs(float64(v - want)); d > 1.0/255+1e-6 {
			t.Fatalf("pixel %d: decoded %g, want %g", i, v, want)
		} else if d < 1e-6 {
			exact++
		}
	}
	if exact < len(xs)*99/100 {
		t.Errorf("only %d of %d pixels came back exactly", exact, len(xs))
	}
}

// A VAE on binarized images: encode writes --latent values per row (the
// posterior means), decode of them writes a PNG of decoder means, and
// latents of the wrong width are refused.
func TestEncodeDecodeVAE(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "vae")
	if out, err := genmod(t, "train", "--model", "vae", "--data", "fashion-mnist-mini", "--binarize", "static",
		"--steps", "20", "--batch", "16", "--hidden", "32", "--latent", "6", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	z := filepath.Join(dir, "z.npy")
	if out, err := genmod(t, "encode", "--run", run, "--split", "test", "--n", "5", "--out", z); err != nil {
		t.Fatalf("encode: %v\n%s", err, out)
	}
	if _, rows, cols, err := data.ReadNPY(z); err != nil || rows != 5 || cols != 6 {
		t.Fatalf("z.npy: %v, %dx%d, want 5x6", err, rows, cols)
	}
	png := filepath.Join(dir, "x.png")
	if out, err := genmod(t, "decode", "--run", run, "--input", z, "--out", png); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Fatalf("decode wrote no PNG: %v", err)
	}
	if out, err := genmod(t, "decode", "--run", run, "--input", writeFile(t, dir, "w.csv", "1,2,3\n"), "--out", png, "--force"); err == nil || !strings.Contains(out, "latents have 6") {
		t.Errorf("3-wide latents for a 6-latent VAE: %v\n%s", err, out)
	}
}
