// Package all registers every model family; import it for its side effect.
package all

import (
	_ "genmod/models/diffusion"
	_ "genmod/models/flow"
	_ "genmod/models/gan"
	_ "genmod/models/vae"
)
