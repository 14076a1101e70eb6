package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"genmod/internal/fsutil"
)

// NPY files (NumPy's .npy format, versions 1.0, 2.0 and 3.0): the magic
// "\x93NUMPY", a version, a little-endian header length, a header that is a
// Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)},
// then the raw array in C order.

const (
	npyMagic = "\x93NUMPY"
	// npyMaxHeader bounds the header length; real headers are < 200 bytes.
	npyMaxHeader = 1 << 16
	// npyMaxBytes bounds the data size a header may claim (256 GiB).
	npyMaxBytes = 1 << 38
)

var npyItemSize = map[string]int{"<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|u1": 1, "<u1": 1, "|i1": 1}

// ReadNPY reads a 1-D or 2-D numeric NPY file (dtypes <f4, <f8, <i4, <i8,
// |u1, |i1) as float32 values in row-major order, with rows and cols (a 1-D
// array of length N is N x 1). Fortran order, other dtypes, other ranks and
// non-finite values are errors naming the file. The header is checked
// against the file length before the data is allocated.
func ReadNPY(path string) (data []float32, rows, cols int, err error) {
	r, size, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading NPY file: %w", err)
	}
	defer closeFn()
	return decodeNPY(r, size, path)
}

// DecodeNPY is ReadNPY for a stream; name is used in errors.
func DecodeNPY(r io.Reader, name string) (data []float32, rows, cols int, err error) {
	return decodeNPY(r, -1, name)
}

func decodeNPY(r io.Reader, size int64, name string) ([]float32, int, int, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, 0, 0, fmt.Errorf("NPY %s: cannot read the magic string: %w", name, err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, 0, 0, fmt.Errorf("NPY %s: bad magic %q; not an NPY file", name, pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen, consumed int64
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, 0, 0, fmt.Errorf("NPY %s: cannot read the header length: %w", name, err)
		}
		hlen, consumed = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, 0, 0, fmt.Errorf("NPY %s: cannot read the header length: %w", name, err)
		}
		hlen, consumed = int64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, 0, 0, fmt.Errorf("NPY %s: format version %d.%d is not supported (want 1.0, 2.0 or 3.0)", name, major, minor)
	}
	if hlen > npyMaxHeader {
		return nil, 0, 0, fmt.Errorf("NPY %s: header length %d exceeds %d bytes", name, hlen, npyMaxHeader)
	}
	if size >= 0 && consumed+hlen > size {
		return nil, 0, 0, fmt.Errorf("NPY %s: header length %d exceeds the file size %d", name, hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, 0, 0, fmt.Errorf("NPY %s: cannot read the %d-byte header: %w", name, hlen, err)
	}
	consumed += hlen
	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("NPY %s: %w", name, err)
	}
	item, ok := npyItemSize[h.descr]
	if !ok {
		return nil, 0, 0, fmt.Errorf("NPY %s: dtype %q is not supported (want <f4, <f8, <i4, <i8 or |u1)", name, h.descr)
	}
	if h.fortran {
		return nil, 0, 0, fmt.Errorf("NPY %s: Fortran-order arrays are not supported; save with numpy.ascontiguousarray", name)
	}
	var rows, cols int64
	switch len(h.shape) {
	case 1:
		rows, cols = h.shape[0], 1
	case 2:
		rows, cols = h.shape[0], h.shape[1]
	default:
		return nil, 0, 0, fmt.Errorf("NPY %s: shape %v has rank %d; only 1-D and 2-D arrays are supported", name, h.shape, len(h.shape))
	}
	if rows <= 0 || cols <= 0 {
		return nil, 0, 0, fmt.Errorf("NPY %s: shape %v is empty", name, h.shape)
	}
	if cols > npyMaxBytes || rows > npyMaxBytes/int64(item)/cols {
		return nil, 0, 0, fmt.Errorf("NPY %s: shape %v is too large", name, h.shape)
	}
	nbytes := rows * cols * int64(item)
	known := int64(-1)
	if size >= 0 {
		known = size - consumed
	}
	raw, err := readPayload(r, nbytes, known, "NPY "+name)
	if err != nil {
		return nil, 0, 0, err
	}
	out := make([]float32, rows*cols)
	le := binary.LittleEndian
	for i := range out {
		var v float64
		switch h.descr {
		case "<f4":
			v = float64(math.Float32frombits(le.Uint32(raw[4*i:])))
		case "<f8":
			v = math.Float64frombits(le.Uint64(raw[8*i:]))
		case "<i4":
			v = float64(int32(le.Uint32(raw[4*i:])))
		case "<i8":
			v = float64(int64(le.Uint64(raw[8*i:])))
		case "|u1", "<u1":
			v = float64(raw[i])
		case "|i1":
			v = float64(int8(raw[i]))
		}
		f := float32(v)
		if math.IsNaN(v) || math.IsInf(float64(f), 0) {
			return nil, 0, 0, fmt.Errorf("NPY %s: row %d, column %d holds %v, which is not a finite float32", name, int64(i)/cols, int64(i)%cols, v)
		}
		out[i] = f
	}
	return out, int(rows), int(cols), nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseNPYHeader parses the dict literal of an NPY header.
func parseNPYHeader(s string) (npyHeader, error) {
	p := &pyParser{s: s}
	var h npyHeader
	seen := map[string]bool{}
	p.skip()
	if !p.eat('{') {
		return h, fmt.Errorf("header %q does not start with '{'", clip(s))
	}
	for {
		p.skip()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, fmt.Errorf("header %q: %w", clip(s), err)
		}
		p.skip()
		if !p.eat(':') {
			return h, fmt.Errorf("header %q: missing ':' after key %q", clip(s), key)
		}
		p.skip()
		switch key {
		case "descr":
			h.descr, err = p.str()
			if err != nil && p.peek() == '[' {
				err = fmt.Errorf("structured dtypes are not supported")
			}
		case "fortran_order":
			h.fortran, err = p.boolean()
		case "shape":
			h.shape, err = p.tuple()
		default:
			return h, fmt.Errorf("header %q: unexpected key %q", clip(s), key)
		}
		if err != nil {
			return h, fmt.Errorf("header %q: key %q: %w", clip(s), key, err)
		}
		if seen[key] {
			return h, fmt.Errorf("header %q: key %q appears twice", clip(s), key)
		}
		seen[key] = true
		p.skip()
		if p.eat(',') {
			continue
		}
		p.skip()
		if !p.eat('}') {
			return h, fmt.Errorf("header %q: expected ',' or '}' at offset %d", clip(s), p.i)
		}
		break
	}
	if rest := strings.TrimSpace(s[p.i:]); rest != "" {
		return h, fmt.Errorf("header %q: unexpected text after the dict", clip(s))
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("header %q: missing key %q", clip(s), k)
		}
	}
	return h, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// pyParser reads the few Python literals an NPY header uses.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) skip() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a quoted string at offset %d", p.i)
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at offset %d", p.i)
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *pyParser) boolean() (bool, error) {
	switch {
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return false, fmt.Errorf("expected True or False at offset %d", p.i)
}

func (p *pyParser) tuple() ([]int64, error) {
	if !p.eat('(') {
		return nil, fmt.Errorf("expected '(' at offset %d", p.i)
	}
	dims := []int64{}
	for {
		p.skip()
		if p.eat(')') {
			return dims, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if start == p.i {
			return nil, fmt.Errorf("expected a non-negative integer at offset %d", p.i)
		}
		d, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dimension %q: %w", p.s[start:p.i], err)
		}
		p.eat('L') // Python 2 long suffix
		if len(dims) == 32 {
			return nil, fmt.Errorf("more than 32 dimensions")
		}
		dims = append(dims, d)
		p.skip()
		if p.eat(',') {
			continue
		}
		p.skip()
		if !p.eat(')') {
			return nil, fmt.Errorf("expected ',' or ')' at offset %d", p.i)
		}
		return dims, nil
	}
}

// EncodeNPY writes a rows x cols float32 array as NPY version 1.0 to w.
func EncodeNPY(w io.Writer, data []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || rows*cols != len(data) {
		return fmt.Errorf("NPY: shape (%d, %d) does not match %d values", rows, cols, len(data))
	}
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// Pad with spaces so the data starts at a multiple of 64 bytes, as numpy does.
	total := len(npyMagic) + 4 + len(dict) + 1
	pad := (64 - total%64) % 64
	header := dict + strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("NPY: header too long")
	}
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 0, 4*min(len(data), 1<<16))
	for i, v := range data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) || i == len(data)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// WriteNPY writes a rows x cols float32 array as an NPY file, atomically.
func WriteNPY(path string, data []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || rows*cols != len(data) {
		return fmt.Errorf("writing %s: shape (%d, %d) does not match %d values", path, rows, cols, len(data))
	}
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error { return EncodeNPY(w, data, rows, cols) })
}

// LoadNPY reads an NPY file as an unlabeled Set with Shape [cols].
func LoadNPY(path string) (*Set, error) {
	x, _, cols, err := ReadNPY(path)
	if err != nil {
		return nil, err
	}
	return &Set{Name: "npy:" + path, Shape: []int{cols}, X: x}, nil
}
