// Package modelfiles reads the facts sizing needs from a model's own files:
// config.json, model.safetensors.index.json and the safetensors headers
// (never the weights), from the Hugging Face Hub with HTTP range requests
// or from a local directory.
package modelfiles

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// MaxHeader caps a safetensors header, as the safetensors library does.
const MaxHeader = 100_000_000

// dtypeBits is the storage size of each safetensors dtype
// (safetensors Dtype::bitsize), with the spellings @huggingface/hub accepts.
var dtypeBits = map[string]int64{
	"F4": 4, "FP4": 4,
	"F6_E2M3": 6, "F6_E3M2": 6,
	"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "E8M0": 8, "UE8": 8,
	"F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
	"I16": 16, "U16": 16, "F16": 16, "BF16": 16,
	"I32": 32, "U32": 32, "F32": 32,
	"I64": 64, "U64": 64, "F64": 64, "C64": 64,
}

// Tensor is one header entry.
type Tensor struct {
	Name    string
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// Bytes is the tensor's storage size.
func (t Tensor) Bytes() int64 { return t.Offsets[1] - t.Offsets[0] }

// Elements is the product of the shape (1 for a scalar).
func (t Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// HeaderLength reads the 8-byte little-endian length that starts a file.
func HeaderLength(prefix []byte) (int64, error) {
	if len(prefix) < 8 {
		return 0, fmt.Errorf("the file is %d bytes, shorter than a safetensors header's length", len(prefix))
	}
	n := binary.LittleEndian.Uint64(prefix[:8])
	if n > MaxHeader {
		return 0, fmt.Errorf("the header is %d bytes, over the %d the safetensors format allows: not a safetensors file?", n, MaxHeader)
	}
	return int64(n), nil
}

// ParseHeader reads the JSON header (without the length prefix) and checks
// it as the safetensors library does: known dtypes, sizes that match the
// shapes, and offsets contiguous from 0.
func ParseHeader(header []byte) ([]Tensor, error) {
	text := strings.TrimRight(string(header), " ")
	if !strings.HasPrefix(text, "{") {
		return nil, fmt.Errorf("the header does not start with '{'")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("the header is not JSON: %w", err)
	}
	var tensors []Tensor
	for name, v := range raw {
		if name == "__metadata__" {
			continue
		}
		t := Tensor{Name: name}
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		bits, ok := dtypeBits[t.DType]
		if !ok {
			return nil, fmt.Errorf("tensor %s has dtype %q, which modelsync does not know; set the Model's weightsGi and paramsB by hand", name, t.DType)
		}
		if t.Offsets[0] < 0 || t.Offsets[1] < t.Offsets[0] {
			return nil, fmt.Errorf("tensor %s has data offsets %v", name, t.Offsets)
		}
		if want := t.Elements() * bits; want%8 != 0 || want/8 != t.Bytes() {
			return nil, fmt.Errorf("tensor %s: %d elements of %s are not %d bytes", name, t.Elements(), t.DType, t.Bytes())
		}
		tensors = append(tensors, t)
	}
	// Offsets are contiguous from 0 (safetensors Metadata::validate).
	byStart := map[int64]Tensor{}
	for _, t := range tensors {
		if t.Bytes() > 0 {
			byStart[t.Offsets[0]] = t
		}
	}
	var end int64
	for range byStart {
		t, ok := byStart[end]
		if !ok {
			return nil, fmt.Errorf("the tensors' data leave a hole at byte %d", end)
		}
		end = t.Offsets[1]
	}
	return tensors, nil
}
