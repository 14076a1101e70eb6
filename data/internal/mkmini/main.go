// Command mkmini recreates genmod's embedded Fashion-MNIST subset
// (data/embedded) from the full gzipped IDX files: the first 600 training
// and the first 100 test images of each class, kept in file order.
//
// Usage (from the data folder, or through go generate):
//
//	go run ./internal/mkmini -src /usr/share/datasets/fashion-mnist -out embedded
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"genmod/data"
)

func main() {
	src := flag.String("src", data.FashionMNISTDir, "folder with the full Fashion-MNIST IDX files")
	out := flag.String("out", "embedded", "output folder")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkmini:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	splits := []struct {
		prefix   string
		perClass int
	}{
		{"train", data.MiniTrainPerClass},
		{"t10k", data.MiniTestPerClass},
	}
	for _, sp := range splits {
		imgPath := filepath.Join(src, sp.prefix+"-images-idx3-ubyte.gz")
		lblPath := filepath.Join(src, sp.prefix+"-labels-idx1-ubyte.gz")
		images, err := data.ReadIDX(imgPath)
		if err != nil {
			return err
		}
		labels, err := data.ReadIDX(lblPath)
		if err != nil {
			return err
		}
		if len(images.Dims) != 3 || len(labels.Dims) != 1 || images.Dims[0] != labels.Dims[0] {
			return fmt.Errorf("%s and %s: dimensions %v and %v do not match", imgPath, lblPath, images.Dims, labels.Dims)
		}
		per := images.Dims[1] * images.Dims[2]
		counts := make([]int, len(data.FashionMNISTClasses))
		var pix, lbl []uint8
		for i, l := range labels.Data {
			if int(l) >= len(counts) {
				return fmt.Errorf("%s: label %d at %d is out of range", lblPath, l, i)
			}
			if counts[l] == sp.perClass {
				continue
			}
			counts[l]++
			pix = append(pix, images.Data[i*per:(i+1)*per]...)
			lbl = append(lbl, l)
		}
		for c, n := range counts {
			if n != sp.perClass {
				return fmt.Errorf("%s: only %d examples of class %d", lblPath, n, c)
			}
		}
		n := len(lbl)
		if err := data.WriteIDX(filepath.Join(out, sp.prefix+"-images-idx3-ubyte.gz"), []int{n, images.Dims[1], images.Dims[2]}, pix); err != nil {
			return err
		}
		if err := data.WriteIDX(filepath.Join(out, sp.prefix+"-labels-idx1-ubyte.gz"), []int{n}, lbl); err != nil {
			return err
		}
		fmt.Printf("mkmini: wrote %d %s examples to %s\n", n, sp.prefix, out)
	}
	return nil
}
