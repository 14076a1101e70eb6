//go:build !amd64

package gemm

// Other GOARCHes run the pure-Go micro-kernel (useAsm stays false); these
// stand-ins only satisfy the compiler.

func kernel6x16(k int, a, b, c *float32, ldc int, acc int) { panic("gemm: no assembly kernel") }

func kernel6x16s(k int, a *float32, lda int, b, c *float32, ldc int, acc int) {
	panic("gemm: no assembly kernel")
}

func dot4x3(k8 int, a0, a1, a2, a3, b0, b1, b2 *float32, out *float32) {
	panic("gemm: no assembly kernel")
}
