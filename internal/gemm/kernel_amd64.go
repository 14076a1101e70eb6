package gemm

import "golang.org/x/sys/cpu"

// The assembly kernels need AVX2 (256-bit integer and float ops, enabled by
// the OS: x/sys/cpu checks XSAVE state) and FMA3.
func init() { useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA }

// kernel6x16 is microKernel for packed panels (kernel_amd64.s).
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, acc int)

// kernel6x16s is kernel6x16 with A unpacked: row i of the 6 x k block starts
// at a + i*lda.
//
//go:noescape
func kernel6x16s(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

// dot4x3 writes out[8*(3*i+j) : +8] = the lane-wise sums, over k8 groups of
// 8 values, of a_i[p]·b_j[p] for i < 4, j < 3.
//
//go:noescape
func dot4x3(k8 int, a0, a1, a2, a3, b0, b1, b2 *float32, out *float32)
