package engine

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/compute/dtypes"

	"genmod/internal/gemm"
)

// The float32 matmul of the Go backend, swapped for genmod's internal/gemm.
//
// GoMLX's pure-Go backend (github.com/gomlx/compute v0.1.2) picks its
// DotGeneral kernel from a registry keyed by (layout, input dtype, output
// dtype): dot.registeredImplementations in the internal package
// github.com/gomlx/compute/internal/gobackend/dot. There is no public way to
// add to it, so this file reaches it with //go:linkname and mirror types,
// and replaces the two float32 entries with internal/gemm, which is 2-3x
// faster on AVX2 (BENCHMARKS.md, "The convolution gap: attempts").
//
// That writes to a private map of a third-party module, so it is guarded:
// before touching it, checkRegistry verifies with reflect that the real map's
// key and value types and the registered function's type are exactly what
// the mirrors below assume (names, packages, sizes, field names and
// offsets, the function's parameters) and that both float32 entries exist.
// If anything differs (a compute upgrade), nothing is installed, the engine
// keeps its kernel, MatMulKernel says why (genmod version prints it), and
// TestMatMulKernelInstalled fails.
//
// GENMOD_GEMM=engine keeps the engine's kernel (for comparisons);
// GENMOD_GEMM=genmod installs internal/gemm even where its assembly does not
// run (its pure-Go micro-kernel; for tests). By default it is installed
// where its AVX2+FMA assembly runs, whatever the engine picked for the CPU:
// it beats the engine's simd:avx2 kernel (125-144 vs 44 GFLOP/s, Zen 3) and
// its simd:avx512 one (180 vs 150 GFLOP/s, Zen 5; issue 16).

// GemmEnv is the environment variable that selects the float32 matmul kernel.
const GemmEnv = "GENMOD_GEMM"

const (
	dotPkg       = "github.com/gomlx/compute/internal/gobackend/dot"
	gobackendPkg = "github.com/gomlx/compute/internal/gobackend"
	// the name of genmod's entry in the engine's registry (its log lines)
	gemmEntryName = "genmod:internal/gemm"
)

// dotImplKey mirrors dot.ImplementationKey (Layout is dot.Layout, an int).
type dotImplKey struct {
	Layout                  int
	InputDType, OutputDType dtypes.DType
}

// dotImplReg mirrors dot.ImplementationRegistration (priority is
// gobackend.RegisterPriority, an int).
type dotImplReg struct {
	name     string
	implFn   any
	priority int
}

//go:linkname dotRegistry github.com/gomlx/compute/internal/gobackend/dot.registeredImplementations
var dotRegistry map[dotImplKey]*dotImplReg

// typesByString is reflect's lookup of the types linked into the binary by
// their string (exported to linkname by the Go runtime; see reflect/type.go).
// It returns *abi.Type values, which are what an interface's type word holds.
//
//go:linkname typesByString reflect.typesByString
func typesByString(s string) []unsafe.Pointer

// eface is the layout of an empty interface: type word, data word.
type eface struct{ typ, data unsafe.Pointer }

// layoutNonTransposed and layoutTransposed are dot.Layout's values (checked
// through its String method by checkRegistry).
const (
	layoutNonTransposed = 0
	layoutTransposed    = 1
)

// gemmDot has the signature of dot.DotGeneralExecFn[float32, float32] with
// *gobackend.Backend as unsafe.Pointer and dot.Layout as int: the same
// calling convention.
func gemmDot(_ unsafe.Pointer, layout int, lhs, rhs []float32, batch, m, n, k int, out []float32) {
	gemmCalls.Add(1)
	gemm.MatMul(layout == layoutTransposed, batch, m, n, k, lhs, rhs, out, runtime.GOMAXPROCS(0))
}

var (
	gemmCalls atomic.Int64 // products computed by gemmDot, for tests

	// Set once by installGemm (under mu).
	gemmTried     bool
	gemmStatus    = "engine's (no Go backend created yet)"
	engineF32     [2]*dotImplReg // the engine's float32 entries, by layout
	genmodF32     [2]*dotImplReg // ours, once installed
	gemmInstalled bool
)

// MatMulKernel says which float32 matmul kernel the Go backend uses and,
// when it is the engine's, why.
func MatMulKernel() string {
	mu.Lock()
	defer mu.Unlock()
	return gemmStatus
}

// SetGenmodMatMul switches the Go backend's float32 matmul between genmod's
// kernel (on) and the engine's for graphs built afterwards (built graphs
// keep theirs), and reports whether genmod's is now in use. It is for
// benchmarks and tests that compare the two in one process: it writes the
// engine's registry, so no graph may be being built meanwhile. It cannot
// turn genmod's kernel on where the engine's registry was not as expected
// (MatMulKernel says why); on a CPU without AVX2+FMA genmod's kernel is its
// pure-Go micro-kernel.
func SetGenmodMatMul(on bool) bool {
	mu.Lock()
	defer mu.Unlock()
	if genmodF32[0] == nil {
		return false
	}
	setGemm(on)
	return on
}

// GenmodMatMul reports whether graphs built now use genmod's kernel.
func GenmodMatMul() bool {
	mu.Lock()
	defer mu.Unlock()
	return gemmInstalled
}

// installGemm replaces the engine's float32 DotGeneral kernels with
// internal/gemm, once, if the registry is as expected and the environment
// allows. Called with mu held, before the first Go backend is created, so
// that no graph is being built while the map is written.
func installGemm() {
	if gemmTried {
		return
	}
	gemmTried = true
	mode := strings.ToLower(os.Getenv(GemmEnv))
	if err := checkRegistry(); err != nil {
		gemmStatus = fmt.Sprintf("engine's: genmod's kernel not installed, the engine's DotGeneral registry is not as expected (%v)", err)
		return
	}
	for layout := range engineF32 {
		engineF32[layout] = dotRegistry[dotImplKey{layout, dtypes.Float32, dtypes.Float32}]
	}
	engineName := engineF32[0].name
	// genmod's entries are built on every CPU (tests and benchmarks switch
	// to them with SetGenmodMatMul); chooseKernel decides the default.
	f := gemmDot
	for layout, orig := range engineF32 {
		// An interface holding gemmDot with the engine's function type as
		// its type word: the engine's type assertion to
		// DotGeneralExecFn[float32, float32] then succeeds.
		var fn any
		(*eface)(unsafe.Pointer(&fn)).typ = (*eface)(unsafe.Pointer(&orig.implFn)).typ
		(*eface)(unsafe.Pointer(&fn)).data = *(*unsafe.Pointer)(unsafe.Pointer(&f))
		genmodF32[layout] = &dotImplReg{name: gemmEntryName, implFn: fn, priority: orig.priority + 1}
	}
	use, why := chooseKernel(mode, gemm.Accelerated())
	setGemm(use)
	if !use {
		gemmStatus = fmt.Sprintf("engine's (%s): %s", engineName, why)
		return
	}
	gemmStatus = fmt.Sprintf("genmod internal/gemm (%s), in place of the engine's %s", gemm.Kernel(), engineName)
}

// chooseKernel is the rule for the default kernel: genmod's where its
// assembly runs (AVX2+FMA) unless GENMOD_GEMM=engine, the engine's
// otherwise; GENMOD_GEMM=genmod forces genmod's. why says the reason for
// the engine's.
func chooseKernel(mode string, accelerated bool) (genmod bool, why string) {
	switch mode {
	case "engine":
		return false, GemmEnv + "=engine"
	case "genmod":
		return true, ""
	case "":
		if !accelerated {
			return false, "no AVX2+FMA on this CPU for genmod's kernel"
		}
		return true, ""
	default:
		return false, fmt.Sprintf("unknown %s=%q (engine or genmod)", GemmEnv, mode)
	}
}

// setGemm switches the registry's float32 entries between genmod's and the
// engine's. Graphs built afterwards use the new entries; built graphs keep
// theirs. Only for installGemm and tests: the map must not be read by a
// graph being built at the same time.
func setGemm(on bool) {
	for layout := range engineF32 {
		reg := engineF32[layout]
		if on {
			reg = genmodF32[layout]
		}
		dotRegistry[dotImplKey{layout, dtypes.Float32, dtypes.Float32}] = reg
	}
	gemmInstalled = on
}

// checkRegistry verifies that dotRegistry is the engine's registry with the
// types the mirrors assume, and that both float32 entries hold a function
// of the expected type.
func checkRegistry() error {
	mapType, err := registryType()
	if err != nil {
		return err
	}
	keyType, regPtr := mapType.Key(), mapType.Elem()
	if err := sameLayout(keyType, reflect.TypeFor[dotImplKey](), "ImplementationKey", dotPkg); err != nil {
		return err
	}
	layoutType := keyType.Field(0).Type
	if err := named(layoutType, reflect.Int, "Layout", dotPkg); err != nil {
		return err
	}
	dtype := reflect.TypeFor[dtypes.DType]()
	for i := 1; i <= 2; i++ {
		if keyType.Field(i).Type != dtype {
			return fmt.Errorf("ImplementationKey.%s is %v, not %v", keyType.Field(i).Name, keyType.Field(i).Type, dtype)
		}
	}
	// Layout's names for 0 and 1 (gemmDot reads 1 as B transposed).
	for v, want := range map[int64]string{layoutNonTransposed: "NonTransposed", layoutTransposed: "Transposed"} {
		l := reflect.New(layoutType).Elem()
		l.SetInt(v)
		s, ok := l.Interface().(fmt.Stringer)
		if !ok || s.String() != want {
			return fmt.Errorf("dot.Layout(%d) is not %q", v, want)
		}
	}
	if regPtr.Kind() != reflect.Pointer {
		return fmt.Errorf("the registry's values are %v, not pointers", regPtr)
	}
	regType := regPtr.Elem()
	if err := sameLayout(regType, reflect.TypeFor[dotImplReg](), "ImplementationRegistration", dotPkg); err != nil {
		return err
	}
	if t := regType.Field(0).Type; t != reflect.TypeFor[string]() {
		return fmt.Errorf("ImplementationRegistration.name is %v, not string", t)
	}
	if t := regType.Field(1).Type; t != reflect.TypeFor[any]() {
		return fmt.Errorf("ImplementationRegistration.implFn is %v, not any", t)
	}
	if err := named(regType.Field(2).Type, reflect.Int, "RegisterPriority", gobackendPkg); err != nil {
		return err
	}

	if dotRegistry == nil {
		return fmt.Errorf("the registry %s.registeredImplementations is empty (renamed?)", dotPkg)
	}
	for _, layout := range []int{layoutNonTransposed, layoutTransposed} {
		reg := dotRegistry[dotImplKey{layout, dtypes.Float32, dtypes.Float32}]
		if reg == nil || reg.implFn == nil {
			return fmt.Errorf("no float32 entry for layout %d", layout)
		}
		if err := checkFnType(reflect.TypeOf(reg.implFn), layoutType); err != nil {
			return err
		}
	}
	return nil
}

// registryType finds the type of dot.registeredImplementations among the
// types linked into the binary (the linkname above only gives the mirror's).
func registryType() (reflect.Type, error) {
	const name = "map[dot.ImplementationKey]*dot.ImplementationRegistration"
	var found []reflect.Type
	for _, p := range typesByString(name) {
		var x any
		(*eface)(unsafe.Pointer(&x)).typ = p // a nil map of that type: only its type is read
		if t := reflect.TypeOf(x); t.Kind() == reflect.Map && t.Key().PkgPath() == dotPkg {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d types %s from %s in the binary, want 1", len(found), name, dotPkg)
	}
	return found[0], nil
}

// sameLayout checks that real is the struct name of package pkg and has
// the mirror's size, alignment, and field names, offsets, kinds and sizes.
func sameLayout(real, mirror reflect.Type, name, pkg string) error {
	if err := named(real, reflect.Struct, name, pkg); err != nil {
		return err
	}
	if real.Size() != mirror.Size() || real.Align() != mirror.Align() || real.NumField() != mirror.NumField() {
		return fmt.Errorf("%s: size %d, align %d, %d fields; the mirror has %d, %d, %d",
			name, real.Size(), real.Align(), real.NumField(), mirror.Size(), mirror.Align(), mirror.NumField())
	}
	for i := range real.NumField() {
		r, m := real.Field(i), mirror.Field(i)
		if r.Name != m.Name || r.Offset != m.Offset || r.Type.Kind() != m.Type.Kind() || r.Type.Size() != m.Type.Size() {
			return fmt.Errorf("%s field %d: %s %v at offset %d; the mirror has %s %v at %d",
				name, i, r.Name, r.Type, r.Offset, m.Name, m.Type, m.Offset)
		}
	}
	return nil
}

// named checks a type's kind, name and package.
func named(t reflect.Type, kind reflect.Kind, name, pkg string) error {
	if t.Kind() != kind || t.Name() != name || t.PkgPath() != pkg {
		return fmt.Errorf("type %v (%s %s.%s), want %s %s.%s", t, t.Kind(), t.PkgPath(), t.Name(), kind, pkg, name)
	}
	return nil
}

// checkFnType checks that fn is dot.DotGeneralExecFn[float32, float32]:
// func(*gobackend.Backend, dot.Layout, lhs, rhs []float32,
// batchSize, lhsCrossSize, rhsCrossSize, contractingSize int, output []float32),
// which gemmDot mirrors parameter by parameter.
func checkFnType(fn, layoutType reflect.Type) error {
	if err := named(fn, reflect.Func, "DotGeneralExecFn[float32,float32]", dotPkg); err != nil {
		return err
	}
	f32s, i := reflect.TypeFor[[]float32](), reflect.TypeFor[int]()
	want := []reflect.Type{nil, layoutType, f32s, f32s, i, i, i, i, f32s}
	if fn.NumIn() != len(want) || fn.NumOut() != 0 || fn.IsVariadic() {
		return fmt.Errorf("%v: %d parameters and %d results, want %d and 0", fn, fn.NumIn(), fn.NumOut(), len(want))
	}
	if p := fn.In(0); p.Kind() != reflect.Pointer || named(p.Elem(), reflect.Struct, "Backend", gobackendPkg) != nil {
		return fmt.Errorf("%v: first parameter %v, want *gobackend.Backend", fn, p)
	}
	for k := 1; k < len(want); k++ {
		if fn.In(k) != want[k] {
			return fmt.Errorf("%v: parameter %d is %v, want %v", fn, k, fn.In(k), want[k])
		}
	}
	return nil
}
