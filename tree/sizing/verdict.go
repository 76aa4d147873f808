package sizing

import (
	"fmt"
	"regexp"
	"strconv"

	"modelsync.dev/modelsync/tree/modelfiles"
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
	// MaxNumSeqs is --max-num-seqs; vLLM's default for the GPU when zero.
	MaxNumSeqs int64
	// A100 says the GPU is an A100, whose default max_num_seqs is lower.
	A100 bool
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
	// vLLM's defaults for the API server (EngineArgs): 8192 batched tokens
	// and 1024 sequences on GPUs of 70 GiB and more, except A100s (256).
	if t.MaxNumBatchedTokens == 0 {
		t.MaxNumBatchedTokens = 2048
		if t.GPUMemory >= 70*GiB {
			t.MaxNumBatchedTokens = 8192
		}
	}
	if t.MaxNumSeqs == 0 {
		t.MaxNumSeqs = 256
		if t.GPUMemory >= 70*GiB && !t.A100 {
			t.MaxNumSeqs = 1024
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
		e.OverheadPerGPU = Overhead(c, t.TP, t.MaxNumSeqs, t.Image)
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
// cache (SIZING.md §1.7):
//   - the activation peak of vLLM's profiling run: 0.9 GiB plus eight fp32
//     copies of the sampler's logits, max_num_seqs × vocab_size × 4 bytes.
//     The llm-d planner measured on H100 (max_num_seqs 1024): Qwen3-0.6B
//     5.56 GiB and Qwen3-32B 5.64 (vocab 151,936: 5.54 here), Llama-8B 4.76
//     and Llama-70B at TP2 4.84 (vocab 128,256: 4.81), gpt-oss-20b 7.38
//     (vocab 201,088: 6.89); the peak follows the vocabulary, not the
//     model's size. The runbook's MiniMax-M2.5 (max_num_seqs 128) starts on
//     four A100s, which a peak in proportion to max_num_batched_tokens would
//     deny;
//   - non-torch memory (CUDA context, NCCL): 0.15 GiB alone, 0.6 GiB with
//     tensor parallelism;
//   - from vLLM 0.21 on, the CUDA graphs it budgets before the KV cache
//     (1.5 GiB, KAITO's measurement on H100). Older images capture graphs
//     after allocating the cache, outside the budget.
//
// A Model's overheadGi replaces the estimate.
func Overhead(c *modelfiles.Config, tp, maxNumSeqs int64, image string) int64 {
	vocab := c.VocabSize
	if vocab == 0 {
		vocab = 152_064 // a large vocabulary when the config has none
	}
	activation := int64(GiB*9/10) + 8*maxNumSeqs*vocab*4
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
