package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// A family declares its options as a struct value holding the defaults
// (Entry.Options for training, Entry.SampleOptions for sampling). Each
// exported field with a json name is one option: the json name is its
// config key and CLI flag, the `help` tag its one-line description.
// Embedded structs are flattened, as encoding/json does. Supported field
// types: bool, int, int64, float64, string and []int. If the struct (or
// its pointer) has a Validate() error method, Decode calls it.
//
//	type Options struct {
//		Latent int     `json:"latent" help:"latent dimension (0 = 50)"`
//		Beta   float64 `json:"beta" help:"weight of the KL term (0 = 1)"`
//	}

// OptionSpec is one declared option.
type OptionSpec struct {
	Name    string       // config key and CLI flag name
	Help    string       // one line
	Type    reflect.Type // bool, int, int64, float64, string or []int
	Default any          // the declaring model's default
}

// Specs lists the options of a declaration (a struct value); nil declares none.
func Specs(decl any) ([]OptionSpec, error) {
	if decl == nil {
		return nil, nil
	}
	t := reflect.TypeOf(decl)
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("options must be a struct value, got %T", decl)
	}
	var out []OptionSpec
	err := specsOf(reflect.ValueOf(decl), &out)
	return out, err
}

func specsOf(v reflect.Value, out *[]OptionSpec) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if err := specsOf(v.Field(i), out); err != nil {
				return err
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64, reflect.String:
		case reflect.Slice:
			if f.Type.Elem().Kind() != reflect.Int {
				return fmt.Errorf("option %s: unsupported type %s", name, f.Type)
			}
		default:
			return fmt.Errorf("option %s: unsupported type %s", name, f.Type)
		}
		*out = append(*out, OptionSpec{Name: name, Help: f.Tag.Get("help"), Type: f.Type, Default: v.Field(i).Interface()})
	}
	return nil
}

// Decode returns the options of a declaration set from values: nil gives
// the defaults; a value of the declaration's own type is taken as it is;
// a map[string]any (config keys to values, as read from a config file or
// flags) is applied over the defaults, and a key the declaration does not
// have is an error that lists the ones it has. what names the options in
// errors ("model ddpm", "sampler of model glow"). The result is validated.
func Decode(what string, decl any, values any) (any, error) {
	if decl == nil {
		if m, ok := values.(map[string]any); values == nil || ok && len(m) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("%s has no option %v (it has no options)", what, describe(values))
	}
	t := reflect.TypeOf(decl)
	ptr := reflect.New(t)
	// A deep copy of the defaults (JSON would decode into their slices).
	setDefaults := func() error {
		buf, err := json.Marshal(decl)
		if err == nil {
			err = json.Unmarshal(buf, ptr.Interface())
		}
		return err
	}
	switch v := values.(type) {
	case nil:
		if err := setDefaults(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	case map[string]any:
		if err := setDefaults(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		specs, err := Specs(decl)
		if err != nil {
			return nil, err
		}
		known := map[string]bool{}
		var names []string
		for _, s := range specs {
			known[s.Name] = true
			names = append(names, s.Name)
		}
		var unknown []string
		for k := range v {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("%s has no option %s (its options: %s)", what, strings.Join(unknown, ", "), strings.Join(names, ", "))
		}
		buf, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		dec := json.NewDecoder(bytes.NewReader(buf))
		if err := dec.Decode(ptr.Interface()); err != nil {
			return nil, fmt.Errorf("%s: bad option value: %w", what, err)
		}
	default:
		if reflect.TypeOf(values) != t {
			return nil, fmt.Errorf("%s takes options of type %s, got %T", what, t, values)
		}
		ptr.Elem().Set(reflect.ValueOf(values))
	}
	if val, ok := ptr.Interface().(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return ptr.Elem().Interface(), nil
}

func describe(values any) string {
	if m, ok := values.(map[string]any); ok {
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%T", values)
}

// Typed adapts a family's constructor over its own options type to
// Entry.New.
func Typed[O any](build func(O, DataInfo) (Model, error)) func(any, DataInfo) (Model, error) {
	return func(opts any, info DataInfo) (Model, error) {
		o, err := As[O](opts)
		if err != nil {
			return nil, err
		}
		return build(o, info)
	}
}

// SharedOption is one option name with every model that declares it.
type SharedOption struct {
	Name    string
	Type    reflect.Type
	Help    string   // the models' help lines, each with the models it is theirs
	Models  []string // sorted
	Default any      // the default, when every model that declares the option has the same one; else nil
}

// AllOptions merges the options that the registered models declare, for a
// CLI that registers each name once: training options (sample false) or
// sampling options (sample true). It fails when two models give one name
// different types.
func AllOptions(sample bool) ([]SharedOption, error) {
	byName := map[string]*SharedOption{}
	helps := map[string]map[string][]string{} // name -> help -> models
	for _, e := range List() {
		decl := e.Options
		if sample {
			decl = e.SampleOptions
		}
		specs, err := Specs(decl)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", e.Name, err)
		}
		for _, s := range specs {
			so := byName[s.Name]
			if so == nil {
				so = &SharedOption{Name: s.Name, Type: s.Type, Default: s.Default}
				byName[s.Name] = so
				helps[s.Name] = map[string][]string{}
			} else if !reflect.DeepEqual(so.Default, s.Default) {
				so.Default = nil
			}
			if so.Type != s.Type {
				return nil, fmt.Errorf("option %s is %s in model %s but %s in %s", s.Name, s.Type, e.Name, so.Type, so.Models[0])
			}
			so.Models = append(so.Models, e.Name)
			helps[s.Name][s.Help] = append(helps[s.Name][s.Help], e.Name)
		}
	}
	var out []SharedOption
	for name, so := range byName {
		if h := helps[name]; len(h) == 1 {
			for text := range h {
				so.Help = fmt.Sprintf("%s (%s)", text, strings.Join(so.Models, ", "))
			}
		} else {
			var parts []string
			for text, ms := range h {
				parts = append(parts, fmt.Sprintf("%s: %s", strings.Join(ms, ", "), text))
			}
			sort.Strings(parts)
			so.Help = strings.Join(parts, "; ")
		}
		out = append(out, *so)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// As returns opts, a request's or constructor's options, as the family's
// type T; nil gives the zero T.
func As[T any](opts any) (T, error) {
	var zero T
	if opts == nil {
		return zero, nil
	}
	o, ok := opts.(T)
	if !ok {
		return zero, fmt.Errorf("options of type %T, want %T", opts, zero)
	}
	return o, nil
}

// TemperatureOptions are the sampling options of models that draw from a
// Gaussian prior, z ~ N(0, T²I) (flows, VAEs).
type TemperatureOptions struct {
	Temperature float64 `json:"temperature" help:"draw the prior's noise z ~ N(0, T²I) (0 = 1)"`
}

// Validate checks T.
func (o *TemperatureOptions) Validate() error {
	if o.Temperature < 0 || math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0) {
		return fmt.Errorf("temperature must be > 0 (0 = 1), got %g", o.Temperature)
	}
	return nil
}

// Scale is T, with 0 meaning 1.
func (o TemperatureOptions) Scale() float64 {
	if o.Temperature == 0 {
		return 1
	}
	return o.Temperature
}

// Declares reports whether the options declaration decl has the key.
func Declares(decl any, key string) bool {
	specs, err := Specs(decl)
	if err != nil {
		return false
	}
	for _, s := range specs {
		if s.Name == key {
			return true
		}
	}
	return false
}
