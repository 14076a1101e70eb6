package engine

import (
	"strings"
	"testing"
)

func TestNewBackend(t *testing.T) {
	b, err := NewBackend("go:parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() == "" {
		t.Error("backend has no name")
	}
	_, err = NewBackend("nosuch:cpu")
	if err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("unknown backend: err = %v", err)
	}
}
