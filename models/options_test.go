package models

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type embeddedOpts struct {
	Width int `json:"width" help:"width"`
}

type testOpts struct {
	embeddedOpts
	Name   string  `json:"name" help:"a name"`
	Rate   float64 `json:"rate" help:"a rate"`
	On     bool    `json:"on"`
	Sizes  []int   `json:"sizes"`
	hidden int
}

func (o *testOpts) Validate() error {
	if o.Rate < 0 {
		return errors.New("rate must be >= 0")
	}
	return nil
}

func TestSpecsFlattenEmbeddedStructs(t *testing.T) {
	specs, err := Specs(testOpts{embeddedOpts: embeddedOpts{Width: 3}, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "width,name,rate,on,sizes" {
		t.Errorf("names = %s", got)
	}
	if specs[0].Default != 3 || specs[1].Default != "x" || specs[0].Help != "width" {
		t.Errorf("specs = %+v", specs)
	}
	if _, err := Specs(struct {
		M map[string]int `json:"m"`
	}{}); err == nil {
		t.Error("a map option was accepted")
	}
	if _, err := Specs(&testOpts{}); err == nil {
		t.Error("a pointer declaration was accepted")
	}
}

func TestDecode(t *testing.T) {
	def := testOpts{Name: "d", Rate: 0.5, Sizes: []int{1}}
	cases := []struct {
		name   string
		values any
		want   testOpts
		err    string
	}{
		{"nil gives the defaults", nil, def, ""},
		{"map over the defaults", map[string]any{"rate": 2, "width": 4.0, "sizes": []any{3.0, 4.0}},
			testOpts{embeddedOpts: embeddedOpts{Width: 4}, Name: "d", Rate: 2, Sizes: []int{3, 4}}, ""},
		{"typed value as it is", testOpts{Name: "t"}, testOpts{Name: "t"}, ""},
		{"unknown key", map[string]any{"rte": 1}, testOpts{}, "has no option rte (its options: width, name, rate, on, sizes)"},
		{"wrong value type", map[string]any{"width": "wide"}, testOpts{}, "bad option value"},
		{"fraction for an int", map[string]any{"width": 1.5}, testOpts{}, "bad option value"},
		{"validated", map[string]any{"rate": -1}, testOpts{}, "rate must be >= 0"},
		{"wrong type", struct{}{}, testOpts{}, "takes options of type"},
	}
	for _, c := range cases {
		got, err := Decode("model m", def, c.values)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "model m") {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if def.Sizes[0] != 1 {
		t.Error("Decode changed the declaration's defaults")
	}
	if _, err := Decode("model n", nil, map[string]any{"x": 1}); err == nil || !strings.Contains(err.Error(), "has no option x") {
		t.Errorf("options for a model without any: %v", err)
	}
	if o, err := Decode("model n", nil, map[string]any{}); o != nil || err != nil {
		t.Errorf("no options, none given: %v, %v", o, err)
	}
}

func TestTemperatureOptions(t *testing.T) {
	for _, c := range []struct {
		t     float64
		scale float64
		ok    bool
	}{{0, 1, true}, {0.7, 0.7, true}, {-1, 0, false}} {
		o := TemperatureOptions{Temperature: c.t}
		err := o.Validate()
		if (err == nil) != c.ok || (c.ok && o.Scale() != c.scale) {
			t.Errorf("T=%g: scale %g, err %v", c.t, o.Scale(), err)
		}
	}
}
