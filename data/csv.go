package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"genmod/internal/fsutil"
)

// ReadCSV reads a numeric CSV file (raw or gzipped): comma-separated rows
// of equal width, an optional header line (taken as a header when none of
// its cells is a number) and '#' comment lines. It returns the values in
// row-major order and the header (nil if none). A NaN, an infinity, an
// empty or non-numeric cell, or a row of the wrong width is an error naming
// the file, line and column.
func ReadCSV(path string) (data []float32, rows, cols int, header []string, err error) {
	r, _, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return nil, 0, 0, nil, fmt.Errorf("reading CSV file: %w", err)
	}
	defer closeFn()
	return DecodeCSV(r, path)
}

// DecodeCSV is ReadCSV for a stream; name is used in errors.
func DecodeCSV(r io.Reader, name string) (data []float32, rows, cols int, header []string, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, 0, nil, fmt.Errorf("CSV %s: line %d, column %d: %w", name, pe.Line, pe.Column, pe.Err)
			}
			return nil, 0, 0, nil, fmt.Errorf("CSV %s: %w", name, err)
		}
		if first {
			first = false
			cols = len(rec)
			if isHeader(rec) {
				header = append([]string(nil), rec...)
				for i := range header {
					header[i] = strings.TrimSpace(header[i])
				}
				continue
			}
		}
		if len(rec) != cols {
			line, _ := cr.FieldPos(0)
			return nil, 0, 0, nil, fmt.Errorf("CSV %s: line %d has %d columns but earlier rows have %d", name, line, len(rec), cols)
		}
		for j, cell := range rec {
			v, perr := parseCell(cell)
			if perr != nil {
				line, col := cr.FieldPos(j)
				return nil, 0, 0, nil, fmt.Errorf("CSV %s: line %d, column %d (field %d): %w", name, line, col, j+1, perr)
			}
			data = append(data, v)
		}
		rows++
	}
	if rows == 0 {
		return nil, 0, 0, nil, fmt.Errorf("CSV %s: no data rows", name)
	}
	return data, rows, cols, header, nil
}

func parseCell(cell string) (float32, error) {
	c := strings.TrimSpace(cell)
	if c == "" {
		return 0, fmt.Errorf("empty cell")
	}
	v, err := strconv.ParseFloat(c, 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is out of the float32 range", clip(c))
		}
		return 0, fmt.Errorf("%q is not a number", clip(c))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", clip(c))
	}
	return float32(v), nil
}

// isHeader reports whether no cell of rec parses as a number.
func isHeader(rec []string) bool {
	for _, c := range rec {
		if _, err := strconv.ParseFloat(strings.TrimSpace(c), 64); err == nil {
			return false
		}
	}
	return true
}

// EncodeCSV writes a rows x cols array as CSV, with a header line when
// header is non-nil. Values are written in the shortest form that reads
// back to the same float32.
func EncodeCSV(w io.Writer, data []float32, rows, cols int, header []string) error {
	if rows < 0 || cols <= 0 || rows*cols != len(data) {
		return fmt.Errorf("CSV: shape (%d, %d) does not match %d values", rows, cols, len(data))
	}
	if header != nil && len(header) != cols {
		return fmt.Errorf("CSV: %d header names for %d columns", len(header), cols)
	}
	cw := csv.NewWriter(w)
	if header != nil {
		if err := cw.Write(header); err != nil {
			return err
		}
	}
	rec := make([]string, cols)
	for i := 0; i < rows; i++ {
		for j := range rec {
			rec[j] = strconv.FormatFloat(float64(data[i*cols+j]), 'g', -1, 32)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteCSV writes a rows x cols array as a CSV file, atomically.
func WriteCSV(path string, data []float32, rows, cols int, header []string) error {
	if rows < 0 || cols <= 0 || rows*cols != len(data) {
		return fmt.Errorf("writing %s: shape (%d, %d) does not match %d values", path, rows, cols, len(data))
	}
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error { return EncodeCSV(w, data, rows, cols, header) })
}

// LoadCSV reads a CSV file as an unlabeled Set with Shape [cols].
func LoadCSV(path string) (*Set, error) {
	x, _, cols, _, err := ReadCSV(path)
	if err != nil {
		return nil, err
	}
	return &Set{Name: "csv:" + path, Shape: []int{cols}, X: x}, nil
}
