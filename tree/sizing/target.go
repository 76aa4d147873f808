package sizing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/tree/modelfiles"
)

// TargetOf is where variant r of m starts, read from the Model and its
// engine line.
func TargetOf(m *model.Model, r model.Resolved) (Target, bool) {
	s := m.Spec.Server
	t := Target{
		GPUMemory: SmallestGPU(r.MinGPUMemoryMB, r.GPUProducts),
		Image:     s.Image,
		Shape: Shape{TP: int64(r.TensorParallel), PP: int64(r.PipelineParallel), DCP: int64(r.DecodeContextParallel),
			KVCacheDType: engine.ArgValue(m, r, "--kv-cache-dtype"), MaxNumBatchedTokens: int64(s.MaxNumBatchedTokens)},
		MaxModelLen: int64(s.MaxModelLen),
		Overhead:    int64(s.OverheadGi * GiB),
		MaxNumSeqs:  int64(s.MaxNumSeqs),
		A100:        r.GPUResource == "nvidia.com/a100",
	}
	for _, p := range r.GPUProducts {
		t.A100 = t.A100 || strings.Contains(p, "A100")
	}
	if t.GPUMemory == 0 {
		return t, false
	}
	if u, err := strconv.ParseFloat(string(s.GPUMemoryUtilization), 64); err == nil {
		t.Utilization = u
	}
	if t.MaxModelLen == 0 {
		if v, err := strconv.ParseInt(engine.ArgValue(m, r, "--max-model-len"), 10, 64); err == nil {
			t.MaxModelLen = v
		}
	}
	return t, true
}

// Sized reports whether sizing checks m: a vLLM server pinned to a
// revision, in one pod per replica, with weights and KV cache on its GPUs.
func Sized(m *model.Model) bool {
	s := m.Spec.Server
	return s != nil && m.Spec.Revision != "" && s.Engine != "sglang" && !s.Embedding && s.Offload == nil && !s.MultiNode()
}

// VariantEstimate is the verdict for one variant (StatefulSet) of a Model.
type VariantEstimate struct {
	Variant string
	Estimate
	// Err says why the variant could not be sized (its GPU memory unknown,
	// a layer kind sizing does not know).
	Err error
}

// ForModel sizes every variant of m on the facts of its files.
func ForModel(m *model.Model, f *modelfiles.Facts) []VariantEstimate {
	var out []VariantEstimate
	for _, r := range m.Spec.Server.ResolvedVariants() {
		v := VariantEstimate{Variant: r.Name}
		t, ok := TargetOf(m, r)
		if !ok {
			v.Estimate = Estimate{WeightsBytes: f.WeightsBytes, Parameters: f.Parameters}
			v.Err = errors.New("the GPU memory is unknown: set minGPUMemoryMB or gpuProducts to a product modelsync knows")
		} else {
			v.Estimate, v.Err = Estimated(f, t)
		}
		out = append(out, v)
	}
	return out
}

// Verdict is one line for the plan's models table.
func (v VariantEstimate) Verdict() string {
	prefix := ""
	if v.Variant != "" {
		prefix = v.Variant + ": "
	}
	switch {
	case v.Err != nil:
		return prefix + "start-up not checked: " + v.Err.Error()
	case v.Fits:
		return fmt.Sprintf("%sstarts: %s of weights per GPU, KV cache for %d tokens (maxModelLen %d; up to %d fits)",
			prefix, gib(v.WeightsPerGPU), v.KVCacheTokens, v.MaxModelLen, v.FitMaxModelLen)
	}
	return prefix + "would not start: " + v.Reason
}
