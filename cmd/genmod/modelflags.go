package main

import (
	"fmt"
	"reflect"

	"github.com/spf13/pflag"

	"genmod/models"
)

// modelFlags are the flags of the options that the registered models
// declare (models.Entry.Options or SampleOptions): one flag per option
// name, so a new family's options reach the CLI without code here.
type modelFlags struct {
	f     *pflag.FlagSet
	names []string
}

// addModelFlags registers the training options (sample false) or the
// sampling options (sample true) on f.
func addModelFlags(f *pflag.FlagSet, sample bool) *modelFlags {
	opts, err := models.AllOptions(sample)
	if err != nil {
		panic(err) // two families disagree on an option's type: a programming error
	}
	mf := &modelFlags{f: f}
	for _, o := range opts {
		if f.Lookup(o.Name) != nil {
			panic(fmt.Sprintf("model option %q clashes with a flag of the command", o.Name))
		}
		def := reflect.Zero(o.Type).Interface()
		if o.Default != nil {
			def = o.Default
		}
		switch v := def.(type) {
		case bool:
			f.Bool(o.Name, v, o.Help)
		case int:
			f.Int(o.Name, v, o.Help)
		case int64:
			f.Int64(o.Name, v, o.Help)
		case float64:
			f.Float64(o.Name, v, o.Help)
		case string:
			f.String(o.Name, v, o.Help)
		case []int:
			f.IntSlice(o.Name, v, o.Help)
		default:
			panic(fmt.Sprintf("model option %s: no flag for type %s", o.Name, o.Type))
		}
		mf.names = append(mf.names, o.Name)
	}
	return mf
}

// has reports whether name is one of the model flags.
func (mf *modelFlags) has(name string) bool {
	for _, n := range mf.names {
		if n == name {
			return true
		}
	}
	return false
}

// values are the model flags given on the command line, by option name;
// the model decodes them (and rejects those it does not declare).
func (mf *modelFlags) values() map[string]any {
	out := map[string]any{}
	for _, n := range mf.names {
		fl := mf.f.Lookup(n)
		if !fl.Changed {
			continue
		}
		var v any
		var err error
		switch fl.Value.Type() {
		case "bool":
			v, err = mf.f.GetBool(n)
		case "int":
			v, err = mf.f.GetInt(n)
		case "int64":
			v, err = mf.f.GetInt64(n)
		case "float64":
			v, err = mf.f.GetFloat64(n)
		case "string":
			v, err = mf.f.GetString(n)
		case "intSlice":
			v, err = mf.f.GetIntSlice(n)
		}
		if err == nil {
			out[n] = v
		}
	}
	return out
}
