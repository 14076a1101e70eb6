package data

import (
	"bytes"
	"embed"
	"fmt"
)

// The files under embedded/ are a subset of Fashion-MNIST (MIT licence,
// Copyright (c) 2017 Zalando SE; see embedded/LICENSE-fashion-mnist): the
// first 600 training images of each class and the first 100 test images of
// each class, in file order, as gzipped IDX. Recreate them from the full
// data set with:
//
//go:generate go run ./internal/mkmini -src /usr/share/datasets/fashion-mnist -out embedded
//go:embed embedded/*.gz
var embedded embed.FS

// Sizes of the embedded Fashion-MNIST subset.
const (
	MiniTrainPerClass = 600
	MiniTestPerClass  = 100
)

// FashionMNISTMini returns the built-in Fashion-MNIST subset: 6000 training
// and 1000 test images (28x28x1, in [0, 1]), 10 balanced classes.
func FashionMNISTMini() (train, test *Set, err error) {
	load := func(images, labels string) (*Set, error) {
		var idx [2]*IDX
		for i, name := range []string{images, labels} {
			raw, err := embedded.ReadFile("embedded/" + name)
			if err != nil {
				return nil, fmt.Errorf("fashion-mnist-mini: %w", err)
			}
			if idx[i], err = DecodeIDX(bytes.NewReader(raw), "embedded/"+name); err != nil {
				return nil, fmt.Errorf("fashion-mnist-mini: %w", err)
			}
		}
		s, err := IDXSet("fashion-mnist-mini", idx[0], idx[1], FashionMNISTClasses)
		if err != nil {
			return nil, fmt.Errorf("fashion-mnist-mini: %w", err)
		}
		return s, nil
	}
	if train, err = load(idxFiles[0]+".gz", idxFiles[1]+".gz"); err != nil {
		return nil, nil, err
	}
	if test, err = load(idxFiles[2]+".gz", idxFiles[3]+".gz"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
