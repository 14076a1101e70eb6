package main

import "genmod/internal/fsutil"

// Every command that writes a file the user names refuses to replace an
// existing one unless given --force, and checks that before any work; the
// files themselves are written atomically (internal/fsutil).

// forceUsage is the help text of --force, the same on every such command.
const forceUsage = "replace an existing output file"

// checkOutputs applies fsutil.CheckOutput to each output that is set.
func checkOutputs(force bool, paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := fsutil.CheckOutput(p, force); err != nil {
			return err
		}
	}
	return nil
}
