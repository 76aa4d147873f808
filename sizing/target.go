package sizing

import (
	"strconv"

	"modelsync.dev/modelsync/model"
)

// TargetOf is where variant r of m starts, read from the Model and its
// engine line.
func TargetOf(m *model.Model, r model.Resolved) (Target, bool) {
	s := m.Spec.Server
	t := Target{
		GPUMemory: SmallestGPU(r.MinGPUMemoryMB, r.GPUProducts),
		Image:     s.Image,
		Shape: Shape{TP: int64(r.TensorParallel), PP: int64(r.PipelineParallel), DCP: int64(r.DecodeContextParallel),
			KVCacheDType: m.ArgValue(r, "--kv-cache-dtype"), MaxNumBatchedTokens: int64(s.MaxNumBatchedTokens)},
		MaxModelLen: int64(s.MaxModelLen),
		Overhead:    int64(s.OverheadGi * GiB),
	}
	if t.GPUMemory == 0 {
		return t, false
	}
	if u, err := strconv.ParseFloat(string(s.GPUMemoryUtilization), 64); err == nil {
		t.Utilization = u
	}
	if t.MaxModelLen == 0 {
		if v, err := strconv.ParseInt(m.ArgValue(r, "--max-model-len"), 10, 64); err == nil {
			t.MaxModelLen = v
		}
	}
	return t, true
}
