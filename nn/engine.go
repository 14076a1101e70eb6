package nn

// Workarounds for gaps in the GoMLX v0.28.2 autodiff. Two of them reach into
// unexported fields of graph.Node through reflect+unsafe, because the engine
// offers no public way to do what they need:
//
//   - Node.customVJP: GoMLX only exposes it through IdentityWithCustomGradient,
//     a one-input identity. A hand-written gradient for a two-input
//     computation (the convolution, whose inputs are x and the kernel) needs
//     it on a node that has both as inputs.
//   - nodeInputsPad.axesConfig: the Pad gradient needs the padding widths,
//     which the node keeps private.
//
// Both are checked: if a GoMLX upgrade renames or retypes a field, the code
// panics with an explanation instead of computing a silently wrong gradient.
// TestEngineHooks exercises both.

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// engineVersion is the GoMLX version these hooks were written and checked against.
const engineVersion = "github.com/gomlx/gomlx v0.28.2"

func init() {
	// Fix A of the cookbook: a VJP for Pad. GoMLX v0.28.2 has none, which also
	// breaks second-order gradients through Slice (Slice's VJP is a Pad). Keep
	// the engine's own if a later version brings one.
	if _, ok := VJPRegistration[NodeTypePad]; !ok {
		VJPRegistration[NodeTypePad] = padVJP
	}
}

// engineError formats a panic message for a broken assumption about GoMLX internals.
func engineError(format string, args ...any) string {
	return fmt.Sprintf("genmod/nn: GoMLX internals differ from %s (%s); "+
		"the nn gradient workarounds (nn/engine.go) must be updated before gradients can be trusted",
		engineVersion, fmt.Sprintf(format, args...))
}

// privateField returns an addressable, settable view of the unexported field
// name of the struct that ptr points to, checking its type.
func privateField(ptr reflect.Value, name string, want reflect.Type) (reflect.Value, error) {
	if ptr.Kind() != reflect.Pointer || ptr.IsNil() || ptr.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("%s is not a pointer to a struct", ptr.Type())
	}
	f := ptr.Elem().FieldByName(name)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("%s has no field %q", ptr.Elem().Type(), name)
	}
	if want != nil && f.Type() != want {
		return reflect.Value{}, fmt.Errorf("%s.%s has type %s, want %s", ptr.Elem().Type(), name, f.Type(), want)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}

var (
	vjpType           = reflect.TypeOf(VJP(nil))
	padAxesType       = reflect.TypeOf([]compute.PadAxis(nil))
	checkCustomVJPOne sync.Once
	customVJPErr      error
)

// setCustomVJP attaches a hand-written VJP to node, exactly as
// IdentityWithCustomGradient does for its identity node, but for any node.
// The engine calls it with node's own inputs, so vjp must return one
// gradient per node.Inputs() (nil for "none").
func setCustomVJP(node *Node, vjp VJP) {
	checkCustomVJPOne.Do(func() {
		_, customVJPErr = privateField(reflect.ValueOf(&Node{}), "customVJP", vjpType)
	})
	if customVJPErr != nil {
		panic(engineError("%v", customVJPErr))
	}
	f, err := privateField(reflect.ValueOf(node), "customVJP", vjpType)
	if err != nil {
		panic(engineError("%v", err))
	}
	f.Set(reflect.ValueOf(vjp))
	if node.CustomGradient() == nil { // the public getter must see it
		panic(engineError("Node.CustomGradient() does not report the field customVJP"))
	}
}

// padAxesOf reads the padding configuration of a Pad node.
func padAxesOf(node *Node) []compute.PadAxis {
	inputs, err := privateField(reflect.ValueOf(node), "inputs", nil)
	if err != nil {
		panic(engineError("%v", err))
	}
	if inputs.Kind() != reflect.Interface || inputs.IsNil() {
		panic(engineError("Pad node's inputs field is %s", inputs.Type()))
	}
	cfg, err := privateField(inputs.Elem(), "axesConfig", padAxesType)
	if err != nil {
		panic(engineError("%v", err))
	}
	return cfg.Interface().([]compute.PadAxis)
}

// padVJP is the gradient of Pad(x, fill, cfg): the padded output sliced back
// to x's positions (strided when there is interior padding), and for the
// fill value the sum of everything else. Only non-negative padding.
func padVJP(node *Node, vjps []*Node, _ shapes.Shape) []*Node {
	v := vjps[0]
	inputs := node.Inputs()
	if len(inputs) != 2 {
		panic(engineError("Pad node has %d inputs, want 2 (x, fillValue)", len(inputs)))
	}
	x := inputs[0]
	cfg := padAxesOf(node)
	specs := make([]SliceAxisSpec, x.Rank())
	for ax := range specs {
		var p compute.PadAxis
		if ax < len(cfg) {
			p = cfg[ax]
		}
		if p.Start < 0 || p.End < 0 || p.Interior < 0 {
			panic(fmt.Sprintf("genmod/nn: gradient of Pad with negative padding %+v is not implemented", p))
		}
		n := x.Shape().Dimensions[ax]
		specs[ax] = AxisRange(p.Start, p.Start+(n-1)*(p.Interior+1)+1).Stride(p.Interior + 1)
	}
	dx := Slice(v, specs...)
	return []*Node{dx, Sub(ReduceAllSum(v), ReduceAllSum(dx))}
}
