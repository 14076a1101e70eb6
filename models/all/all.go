// Package all registers every model family; import it for its side effect.
package all

import (
	_ "genmod/diffusion"
	_ "genmod/models/flow"
	_ "genmod/models/vae"
)
