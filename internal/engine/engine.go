// Package engine selects the GoMLX backend genmod computes with and reports
// how the binary was built.
package engine

import (
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend: no C libraries, works everywhere
)

// DefaultBackend is the pure-Go backend with parallelism=-1: its default
// worker pool can deadlock when several large matmuls run at once, and -1 was
// also the fastest setting measured (see DESIGN.md).
const DefaultBackend = "go:parallelism=-1"

// BackendConfig resolves the backend configuration: the explicit name, else
// $GOMLX_BACKEND, else DefaultBackend.
func BackendConfig(name string) string {
	if name != "" {
		return name
	}
	if env := os.Getenv(compute.ConfigEnvVar); env != "" {
		return env
	}
	return DefaultBackend
}

// NewBackend creates the backend named by config ("go", "go:parallelism=-1",
// "xla:cpu", ...). An unknown or unavailable backend is an error that says
// what is missing, never a panic.
func NewBackend(config string) (b compute.Backend, err error) {
	config = BackendConfig(config)
	name, _, _ := strings.Cut(config, ":")
	available := compute.List()
	slices.Sort(available)
	if !slices.Contains(available, name) {
		hint := ""
		if name == "xla" {
			hint = "; this binary was built without XLA: rebuild with `go build -tags xla` and install a PJRT plugin (see README, \"Other backends\")"
		}
		return nil, fmt.Errorf("backend %q is not available (compiled in: %s)%s", name, strings.Join(available, ", "), hint)
	}
	mu.Lock()
	defer mu.Unlock()
	if name == "go" {
		installGemm() // genmod's float32 matmul kernel (matmul.go), once
	}
	if b, ok := cache[config]; ok {
		return b, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("backend %q failed to start: %v", config, r)
		}
	}()
	// The Go backend prints "parallelism set to N" on stdout, which would
	// end up in the middle of a user's piped output: hide it.
	if devNull, derr := os.OpenFile(os.DevNull, os.O_WRONLY, 0); derr == nil {
		stdout := os.Stdout
		os.Stdout = devNull
		defer func() { os.Stdout = stdout; devNull.Close() }()
	}
	b, err = compute.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("backend %q failed to start: %w", config, err)
	}
	cache[config] = b
	return b, nil
}

// Backends are created once per configuration and shared: each one owns a
// worker pool, and sessions in one process should not multiply them.
var (
	mu    sync.Mutex
	cache = map[string]compute.Backend{}
)

// SIMD reports whether the binary was built with GOEXPERIMENT=simd, without
// which the Go backend's matmul is about 16x slower.
func SIMD() bool { return simdEnabled }

// ModuleVersion returns the version of a dependency compiled into the binary.
func ModuleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == path {
			return m.Version
		}
	}
	return "unknown"
}
