package viz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// CurvesFromJSONL reads a metrics log of one JSON object per line (such as a
// run's metrics.jsonl) and returns one series per key in yKeys, plotted
// against the numeric field xKey (e.g. "step"). A line contributes to a
// series when it has both keys; a null value is kept as NaN so Curves
// reports it as dropped. Blank lines are skipped. A malformed line is an
// error naming its number, except the last line when it lacks its newline:
// that is a write cut short by a killed run, and is ignored.
func CurvesFromJSONL(r io.Reader, xKey string, yKeys ...string) ([]CurveSeries, error) {
	if len(yKeys) == 0 {
		return nil, errors.New("viz.CurvesFromJSONL: no y keys given")
	}
	series := make([]CurveSeries, len(yKeys))
	for i, k := range yKeys {
		series[i].Name = k
	}
	br := bufio.NewReader(r)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("viz.CurvesFromJSONL: reading line %d: %w", lineNo, err)
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var rec map[string]json.RawMessage
			if jerr := json.Unmarshal(trimmed, &rec); jerr != nil {
				if !complete {
					break // a partial last record
				}
				return nil, fmt.Errorf("viz.CurvesFromJSONL: line %d: %w", lineNo, jerr)
			}
			x, ok, perr := number(rec, xKey)
			if perr != nil {
				return nil, fmt.Errorf("viz.CurvesFromJSONL: line %d: %w", lineNo, perr)
			}
			if ok {
				for i, k := range yKeys {
					y, ok, perr := number(rec, k)
					if perr != nil {
						return nil, fmt.Errorf("viz.CurvesFromJSONL: line %d: %w", lineNo, perr)
					}
					if ok {
						series[i].X = append(series[i].X, x)
						series[i].Y = append(series[i].Y, y)
					}
				}
			}
		}
		if err != nil { // io.EOF
			break
		}
	}
	return series, nil
}

// number returns the numeric field key of rec; ok is false when it is
// absent, and null reads as NaN.
func number(rec map[string]json.RawMessage, key string) (v float64, ok bool, err error) {
	raw, ok := rec[key]
	if !ok {
		return 0, false, nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return math.NaN(), true, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, fmt.Errorf("field %q is %s, not a number", key, raw)
	}
	return v, true, nil
}
