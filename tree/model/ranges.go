package model

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"modelsync.dev/modelsync/tree/manifest"
)

// numberRange is the documented range of one numeric Model field. Decode
// checks every number against it before converting, at the field's line:
// a conversion would wrap a too-large integer silently (replicas:
// 4294967296 becoming 0) and truncate a fraction.
type numberRange struct {
	path    string // dotted, "*" for every list item
	min     float64
	max     float64
	minOpen bool // min itself is outside the range
	integer bool
	what    string // the hint: what the number is
}

// hardwareRanges apply to spec.server and to each of its variants.
var hardwareRanges = []numberRange{
	{path: "gpus", min: 1, max: 64, integer: true, what: "GPUs per pod"},
	{path: "minGPUMemoryMB", min: 1, max: 1 << 24, integer: true, what: "the smallest GPU memory, in MB"},
	{path: "computeMajorAbove", min: 0, max: 99, integer: true, what: "a CUDA compute capability major version"},
	{path: "driverMajorAbove", min: 0, max: 9999, integer: true, what: "a CUDA driver major version"},
	{path: "tensorParallel", min: 1, max: 1024, integer: true, what: "a parallel size"},
	{path: "pipelineParallel", min: 1, max: 1024, integer: true, what: "a parallel size"},
	{path: "dataParallel", min: 1, max: 1024, integer: true, what: "a parallel size"},
	{path: "decodeContextParallel", min: 1, max: 1024, integer: true, what: "a parallel size"},
	{path: "apiServers", min: 1, max: 1024, integer: true, what: "API server processes"},
	{path: "replicas", min: 0, max: 10000, integer: true, what: "replicas (0 scales the model to zero)"},
}

// Ranges are the documented ranges of every numeric Model field (docs/models.md's
// Model reference lists them).
var Ranges = append([]numberRange{
	{path: "spec.external.port", min: 1, max: 65535, integer: true, what: "a TCP port"},
	{path: "spec.pool.pickerReplicas", min: 0, max: 100, integer: true, what: "endpoint picker replicas"},
	{path: "spec.server.weightsGi", min: 0, minOpen: true, max: 1 << 16, what: "the weight size hf-mem reports, in GiB"},
	{path: "spec.server.paramsB", min: 0, max: 1 << 20, what: "the parameter count in billions"},
	{path: "spec.server.overheadGi", min: 0, max: 1024, what: "GiB per GPU besides weights and KV cache"},
	{path: "spec.server.maxModelLen", min: 1, max: 1 << 24, integer: true, what: "the context length in tokens"},
	{path: "spec.server.gpuMemoryUtilization", min: 0, minOpen: true, max: 1, what: "the fraction of GPU memory vLLM may use"},
	{path: "spec.server.maxNumSeqs", min: 1, max: 1 << 20, integer: true, what: "concurrent sequences"},
	{path: "spec.server.maxNumBatchedTokens", min: 1, max: 1 << 30, integer: true, what: "tokens per batch"},
	{path: "spec.server.mmProcessorCacheGB", min: 0, max: 1024, integer: true, what: "GiB of multimodal processor cache (0 turns it off)"},
	{path: "spec.server.attentionHeads", min: 1, max: 1 << 16, integer: true, what: "num_attention_heads from config.json"},
	{path: "spec.server.kvHeads", min: 1, max: 1 << 16, integer: true, what: "num_key_value_heads from config.json"},
	{path: "spec.server.nodes", min: 1, max: 64, integer: true, what: "pods per instance"},
	{path: "spec.server.offload.weightsGB", min: 0, minOpen: true, max: 1 << 16, what: "GiB of weights in CPU RAM"},
	{path: "spec.server.offload.kvGB", min: 0, max: 1 << 16, integer: true, what: "GiB of KV cache in CPU RAM"},
	{path: "spec.server.overrides.startupFailureThreshold", min: 1, max: 100000, integer: true, what: "startup probe failures"},
}, withPrefix(hardwareRanges, "spec.server.", "spec.server.variants.*.")...)

func withPrefix(rs []numberRange, prefixes ...string) []numberRange {
	var out []numberRange
	for _, p := range prefixes {
		for _, r := range rs {
			r.path = p + r.path
			out = append(out, r)
		}
	}
	return out
}

// checkNumbers refuses every number of a Model's raw object outside its
// range, each at its line.
func checkNumbers(o manifest.Object) error {
	var errs []error
	for _, r := range Ranges {
		walk(o.Object, strings.Split(r.path, "."), nil, func(path []string, v any) {
			if msg := r.check(v); msg != "" {
				errs = append(errs, &Error{Origin: o.Origin.At(path...), Model: o.GetName(),
					Msg: fmt.Sprintf("%s %s", strings.Join(path, "."), msg), Hint: "it is " + r.what})
			}
		})
	}
	return errors.Join(errs...)
}

// walk calls fn with each value at path ("*" matching every list item).
func walk(v any, path, at []string, fn func([]string, any)) {
	if len(path) == 0 {
		fn(at, v)
		return
	}
	switch n := v.(type) {
	case map[string]any:
		if c, ok := n[path[0]]; ok && path[0] != "*" {
			walk(c, path[1:], append(at[:len(at):len(at)], path[0]), fn)
		}
	case []any:
		if path[0] == "*" {
			for i, c := range n {
				walk(c, path[1:], append(at[:len(at):len(at)], strconv.Itoa(i)), fn)
			}
		}
	}
}

func (r numberRange) check(v any) string {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	case string:
		if !strings.HasSuffix(r.path, "gpuMemoryUtilization") {
			return "" // the type check says it is not a number
		}
		if !plainDecimal.MatchString(n) {
			return fmt.Sprintf("%q is not a plain decimal number (the engine's parser takes no hex, exponent or NaN)", n)
		}
		p, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return ""
		}
		f = p
	default:
		return ""
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return "is not a finite number"
	case r.integer && f != math.Trunc(f):
		return fmt.Sprintf("%v is not a whole number", f)
	case f < r.min || (r.minOpen && f == r.min) || f > r.max:
		return fmt.Sprintf("%v is out of range %s", v, r)
	}
	return ""
}

// String is the range in interval notation.
func (r numberRange) String() string {
	open := "["
	if r.minOpen {
		open = "("
	}
	return fmt.Sprintf("%s%s, %s]", open, strconv.FormatFloat(r.min, 'f', -1, 64), strconv.FormatFloat(r.max, 'f', -1, 64))
}
