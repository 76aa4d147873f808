package sizing

import (
	"fmt"
	"regexp"
	"strconv"

	"modelsync.dev/modelsync/modelfiles"
)

// GiB is 2^30 bytes.
const GiB = 1 << 30

// Target is where and how a Model starts: one GPU of the smallest kind it
// may be scheduled on, and the engine's settings.
type Target struct {
	// GPUMemory is one GPU's memory in bytes.
	GPUMemory int64
	// Utilization is --gpu-memory-utilization; 0.9 when zero.
	Utilization float64
	// MaxModelLen is --max-model-len; the config's max_position_embeddings when zero.
	MaxModelLen int64
	Shape
	// Overhead is the memory per GPU besides weights and KV cache; estimated
	// from the architecture and Image when zero.
	Overhead int64
	Image    string
}

// Estimate is the start-up arithmetic of one Model.
type Estimate struct {
	WeightsBytes int64 `json:"weightsBytes"`
	Parameters   int64 `json:"parameters"`
	// KVBytesPerToken is the whole model's: every layer and KV head at the
	// KV dtype, before any parallel split.
	KVBytesPerToken int64 `json:"kvBytesPerToken"`
	WeightsPerGPU   int64 `json:"weightsPerGPUBytes"`
	OverheadPerGPU  int64 `json:"overheadPerGPUBytes"`
	// BudgetPerGPU is GPU memory x utilization.
	BudgetPerGPU int64 `json:"budgetPerGPUBytes"`
	// AvailableKV is what is left per GPU for the KV cache.
	AvailableKV   int64 `json:"availableKVBytes"`
	KVCacheTokens int64 `json:"kvCacheTokens"`
	MaxModelLen   int64 `json:"maxModelLen"`
	// FitMaxModelLen is the largest maxModelLen that fits (vLLM's estimate).
	FitMaxModelLen int64  `json:"fitMaxModelLen"`
	Fits           bool   `json:"fits"`
	Reason         string `json:"reason,omitempty"`
}

// Estimated computes the verdict for the model f on t.
func Estimated(f *modelfiles.Facts, t Target) (Estimate, error) {
	c := f.Config
	e := Estimate{WeightsBytes: f.WeightsBytes, Parameters: f.Parameters}
	var err error
	if e.KVBytesPerToken, err = TokenBytesWhole(c, t.KVCacheDType); err != nil {
		return e, err
	}
	if t.GPUMemory <= 0 {
		return e, fmt.Errorf("the GPU memory is unknown: set minGPUMemoryMB or gpuProducts to a product modelsync knows")
	}
	if t.Utilization == 0 {
		t.Utilization = 0.9
	}
	if t.MaxModelLen == 0 {
		t.MaxModelLen = c.MaxPositions
	}
	t.TP, t.PP = max(1, t.TP), max(1, t.PP)
	if t.MaxNumBatchedTokens == 0 {
		t.MaxNumBatchedTokens = 2048
		if t.GPUMemory >= 70*GiB {
			t.MaxNumBatchedTokens = 8192
		}
	}
	layout, err := LayoutOf(c, t.Shape)
	if err != nil {
		return e, err
	}
	e.MaxModelLen = t.MaxModelLen
	e.WeightsPerGPU = f.WeightsBytes / (t.TP * t.PP)
	e.OverheadPerGPU = t.Overhead
	if e.OverheadPerGPU == 0 {
		e.OverheadPerGPU = Overhead(c, t.TP, t.MaxNumBatchedTokens, t.Image)
	}
	e.BudgetPerGPU = int64(float64(t.GPUMemory) * t.Utilization)
	e.AvailableKV = e.BudgetPerGPU - e.WeightsPerGPU - e.OverheadPerGPU
	if e.AvailableKV <= 0 {
		e.Reason = fmt.Sprintf("the weights (%s per GPU) and the engine's overhead (%s) leave no memory for the cache blocks within %s (%s x gpuMemoryUtilization %.2f); vLLM would fail with \"No available memory for the cache blocks\"%s",
			gib(e.WeightsPerGPU), gib(e.OverheadPerGPU), gib(e.BudgetPerGPU), gib(t.GPUMemory), t.Utilization, moreGPUs(f, t))
		return e, nil
	}
	e.KVCacheTokens = layout.Tokens(e.AvailableKV)
	e.FitMaxModelLen = layout.MaxLen(e.AvailableKV, max(t.MaxModelLen, c.MaxPositions), t.Shape)
	need := layout.Need(t.MaxModelLen, t.Shape)
	if need > e.AvailableKV {
		// vLLM's V1 text (_check_enough_kv_cache_memory), with its estimate.
		e.Reason = fmt.Sprintf("To serve at least one request with the model's max seq len (%d), (%.2f GiB KV cache is needed, which is larger than the available KV cache memory (%.2f GiB). Based on the available memory, the estimated maximum model length is %d. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine: set maxModelLen to at most %d%s",
			t.MaxModelLen, float64(need)/GiB, float64(e.AvailableKV)/GiB, e.FitMaxModelLen, e.FitMaxModelLen, moreGPUs(f, t))
		return e, nil
	}
	e.Fits = true
	return e, nil
}

// moreGPUs suggests the smallest tensor-parallel size that would start.
func moreGPUs(f *modelfiles.Facts, t Target) string {
	for tp := t.TP * 2; tp <= 16; tp *= 2 {
		t2 := t
		t2.TP, t2.Overhead = tp, t.Overhead
		if e, err := Estimated(f, t2); err == nil && e.Fits {
			return fmt.Sprintf(", or use %d GPUs (tensor parallel %d)", tp*t.PP, tp)
		}
	}
	return ""
}

// Overhead estimates the memory per GPU that is neither weights nor KV
// cache (SIZING.md §1.7): the activation peak of vLLM's profiling run (llm-d
// planner's measurements on H100 at 8192 batched tokens: 5.5 GiB dense, 8 GiB
// mixture-of-experts, constant in max_model_len; taken here as 1.5 GiB plus
// a share in proportion to max_num_batched_tokens), non-torch memory (CUDA context, NCCL: 0.15 GiB
// alone, 0.6 GiB with tensor parallelism) and, from vLLM 0.21 on, the CUDA
// graphs it budgets before the KV cache (1.5 GiB, KAITO's measurement on
// H100). Older images capture graphs after allocating the cache, outside
// the budget. A Model's overheadGi replaces the estimate.
func Overhead(c *modelfiles.Config, tp, batchedTokens int64, image string) int64 {
	peak := int64(4 * GiB) // at 8192 batched tokens, above the fixed 1.5 GiB
	if c.Experts > 0 {
		peak = int64(6.5 * GiB)
	}
	activation := int64(1.5*GiB) + peak*batchedTokens/8192
	nonTorch := int64(GiB * 15 / 100)
	if tp > 1 {
		nonTorch = int64(GiB * 6 / 10)
	}
	graphs := int64(1.5 * GiB)
	if v, ok := vllmMinor(image); ok && v < 21 {
		graphs = 0
	}
	return activation + nonTorch + graphs
}

var vllmTag = regexp.MustCompile(`:v?0\.(\d+)(\.\d+)?`)

// vllmMinor reads 17 from vllm/vllm-openai:v0.17.0; false for other tags
// (nightly, latest), which count as the newest.
func vllmMinor(image string) (int, bool) {
	m := vllmTag.FindStringSubmatch(image)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/GiB) }
