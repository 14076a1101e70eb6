// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header mapping tensor names to dtype, shape and byte offsets,
// then the raw little-endian data. genmod uses it for checkpoints and exports,
// so a run's weights load directly in PyTorch (safetensors.torch.load_file).
//
// Reading validates everything the header claims against the file before
// allocating: a lying header is an error, never a crash or a huge allocation.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"genmod/internal/fsutil"
)

// Tensor is one named array. Data holds len = prod(Shape)*DTypeSize(DType) bytes, little-endian.
type Tensor struct {
	Name  string
	DType string // "F64", "F32", "I64", "I32", "U64", "U32", "U8", "I8", "BOOL", "F16", "BF16"
	Shape []int
	Data  []byte
}

// File is the content of a safetensors file.
type File struct {
	Tensors  []Tensor          // sorted by name
	Metadata map[string]string // the optional "__metadata__" entry
}

var dtypeSizes = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}

// DTypeSize returns the byte size of one element of dtype, or 0 if unknown.
func DTypeSize(dtype string) int { return dtypeSizes[dtype] }

// MaxHeaderBytes bounds the JSON header (the reference implementation uses 100 MB).
const MaxHeaderBytes = 100 << 20

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Write stores the tensors and metadata at path atomically (temp file + rename).
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	sorted := append([]Tensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var offset int64
	for _, t := range sorted {
		if t.Name == "__metadata__" || t.Name == "" {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		size := DTypeSize(t.DType)
		if size == 0 {
			return fmt.Errorf("safetensors: tensor %q has unknown dtype %q", t.Name, t.DType)
		}
		n := int64(size)
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q has negative dimension in %v", t.Name, t.Shape)
			}
			n *= int64(d)
		}
		if n != int64(len(t.Data)) {
			return fmt.Errorf("safetensors: tensor %q: shape %v %s needs %d bytes, got %d", t.Name, t.Shape, t.DType, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{offset, offset + n}}
		offset += n
	}
	hdr, err := json.Marshal(header) // map keys are sorted: the file is byte-deterministic
	if err != nil {
		return fmt.Errorf("safetensors: encoding header: %w", err)
	}
	// Pad the header with spaces to an 8-byte boundary, as the reference writer does.
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
		if _, err := w.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		for _, t := range sorted {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadFile reads and validates the safetensors file at path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading safetensors: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse decodes a safetensors file held in memory. Tensor data alias buf.
func Parse(buf []byte) (*File, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("file too short (%d bytes) for a safetensors header", len(buf))
	}
	hlen := binary.LittleEndian.Uint64(buf[:8])
	if hlen > MaxHeaderBytes || hlen > uint64(len(buf)-8) {
		return nil, fmt.Errorf("header length %d exceeds the file (%d bytes) or the %d-byte limit", hlen, len(buf), MaxHeaderBytes)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+hlen], &raw); err != nil {
		return nil, fmt.Errorf("invalid header JSON: %w", err)
	}
	body := buf[8+hlen:]
	f := &File{}
	type span struct {
		begin, end int64
		name       string
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("invalid __metadata__ (must map strings to strings): %w", err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("tensor %q: invalid header entry: %w", name, err)
		}
		size := DTypeSize(e.DType)
		if size == 0 {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", name, e.DType)
		}
		n := int64(size)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && n > int64(len(body))/int64(d)+1) {
				return nil, fmt.Errorf("tensor %q: shape %v does not fit in %d data bytes", name, e.Shape, len(body))
			}
			n *= int64(d)
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || end < b || end > int64(len(body)) {
			return nil, fmt.Errorf("tensor %q: data offsets [%d, %d] outside the %d data bytes", name, b, end, len(body))
		}
		if end-b != n {
			return nil, fmt.Errorf("tensor %q: shape %v %s needs %d bytes, offsets give %d", name, e.Shape, e.DType, n, end-b)
		}
		f.Tensors = append(f.Tensors, Tensor{Name: name, DType: e.DType, Shape: append([]int{}, e.Shape...), Data: body[b:end]})
		spans = append(spans, span{b, end, name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	sort.Slice(f.Tensors, func(i, j int) bool { return f.Tensors[i].Name < f.Tensors[j].Name })
	return f, nil
}

// Get returns the tensor with the given name, or nil.
func (f *File) Get(name string) *Tensor {
	i := sort.Search(len(f.Tensors), func(i int) bool { return f.Tensors[i].Name >= name })
	if i < len(f.Tensors) && f.Tensors[i].Name == name {
		return &f.Tensors[i]
	}
	return nil
}
