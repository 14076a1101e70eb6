//go:build xla

package engine

// Built with -tags xla: register the XLA backend (CPU/GPU/TPU through a PJRT
// plugin that the user installs; see README).
import _ "github.com/gomlx/go-xla/compute/xla"
