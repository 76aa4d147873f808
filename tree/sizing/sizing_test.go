package sizing_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"modelsync.dev/modelsync/tree/modelfiles"
	"modelsync.dev/modelsync/tree/sizing"
)

func config(t *testing.T, name string) *modelfiles.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../testdata/model-configs", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := modelfiles.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKVBytesPerToken: the KV cache per token on one GPU, by attention kind,
// against values worked out by hand from the real configs (SIZING.md §3).
func TestKVBytesPerToken(t *testing.T) {
	tests := []struct {
		name   string
		config string
		tp     int64
		dtype  string
		want   int64 // per GPU, every layer
	}{
		// dense GQA: 2 x kv heads x head_dim x 2 bytes x layers
		{"Llama-3.1-8B", "meta-llama--Meta-Llama-3.1-8B", 1, "auto", 2 * 8 * 128 * 2 * 32},                    // 131,072
		{"Qwen3-8B", "Qwen--Qwen3-8B", 1, "auto", 2 * 8 * 128 * 2 * 36},                                       // 147,456
		{"Qwen3-32B TP1", "Qwen--Qwen3-32B", 1, "auto", 262_144},                                              //
		{"Qwen3-32B TP2", "Qwen--Qwen3-32B", 2, "auto", 131_072},                                              // 4 heads per GPU
		{"Qwen3-32B TP8", "Qwen--Qwen3-32B", 8, "auto", 32_768},                                               // one head per GPU
		{"Qwen3-32B TP16 replicates the head", "Qwen--Qwen3-32B", 16, "auto", 32_768},                         //
		{"Qwen3-32B-FP8 with an fp8 cache", "Qwen--Qwen3-32B-FP8", 1, "fp8", 131_072},                         // 1 byte
		{"MiniMax-M2.5 TP1", "MiniMaxAI--MiniMax-M2.5", 1, "auto", 2 * 8 * 128 * 2 * 62},                      // 253,952
		{"MiniMax-M2.5 TP16", "MiniMaxAI--MiniMax-M2.5", 16, "auto", 2 * 1 * 128 * 2 * 62},                    // 31,744
		{"DeepSeek-V3 MLA", "deepseek-ai--DeepSeek-V3", 1, "auto", (512 + 64) * 2 * 61},                       // 70,272
		{"DeepSeek-V3 MLA is whole on every rank", "deepseek-ai--DeepSeek-V3", 8, "auto", 70_272},             //
		{"DeepSeek-R1 fp8 cache", "deepseek-ai--DeepSeek-R1", 8, "fp8", 35_136},                               //
		{"DeepSeek-V3.2 fp8_ds_mla", "deepseek-ai--DeepSeek-V3.2", 8, "fp8", 656 * 61},                        // 40,016
		{"GLM-5 MLA", "zai-org--GLM-5", 4, "auto", (512 + 64) * 2 * 78},                                       // 89,856
		{"gpt-oss-120b: 18 full + 18 sliding layers", "openai--gpt-oss-120b", 1, "auto", 2 * 8 * 64 * 2 * 36}, // 73,728
		{"Qwen3-Next: 12 attention layers, 36 linear", "Qwen--Qwen3-Next-80B-A3B-Thinking", 1, "auto", 2 * 2 * 256 * 2 * 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config(t, tt.config)
			l, err := sizing.LayoutOf(c, sizing.Shape{TP: tt.tp, PP: 1, KVCacheDType: tt.dtype})
			if err != nil {
				t.Fatal(err)
			}
			var attn int64
			for _, n := range []int64{l.Counts[0], l.Counts[1]} {
				attn += n
			}
			if got := attn * l.TokenBytes; got != tt.want {
				t.Errorf("%d bytes per token per GPU, want %d", got, tt.want)
			}
		})
	}
}

// TestNeed: what one request of L tokens needs, with sliding windows
// bounded and hybrid pages unified, as vLLM computes it.
func TestNeed(t *testing.T) {
	gptoss := config(t, "openai--gpt-oss-120b")
	l, err := sizing.LayoutOf(gptoss, sizing.Shape{TP: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := sizing.Shape{MaxNumBatchedTokens: 8192}
	// 18 full layers x 131,072 tokens x 2,048 B = 4.5 GiB, and 18 sliding
	// layers x (ceil((127+8192)/16)+1) blocks x 16 x 2,048 B = 0.29 GiB.
	if got, want := l.Need(131_072, s), int64(18*131_072*2048+18*(520+1)*16*2048); got != want {
		t.Errorf("gpt-oss-120b at 131,072 tokens: %d bytes, want %d", got, want)
	}
	// With 2,048 batched tokens the sliding share shrinks to 0.075 GiB.
	if got, want := l.Need(131_072, sizing.Shape{MaxNumBatchedTokens: 2048}), int64(18*131_072*2048+18*(136+1)*16*2048); got != want {
		t.Errorf("gpt-oss-120b at 2,048 batched tokens: %d, want %d", got, want)
	}

	// Qwen3-Next: a GDN state of 49,152 + 1,048,576 B raises the attention
	// block to 544 tokens (page 1,114,112 B); 12 attention layers form one
	// group, the 36 linear layers three, each one page per sequence.
	next, err := sizing.LayoutOf(config(t, "Qwen--Qwen3-Next-80B-A3B-Thinking"), sizing.Shape{TP: 1})
	if err != nil {
		t.Fatal(err)
	}
	if next.StateBytes != 1_097_728 {
		t.Errorf("GDN state %d, want 1,097,728", next.StateBytes)
	}
	if got, want := next.Need(544*10, s), int64(12*1_114_112*(10+3)); got != want {
		t.Errorf("Qwen3-Next at 5,440 tokens: %d, want %d", got, want)
	}
}

// TestVerdict: the start-up verdict against vLLM's own behaviour where it
// was published, with vLLM's error text.
func TestVerdict(t *testing.T) {
	qwen32 := &modelfiles.Facts{Config: config(t, "Qwen--Qwen3-32B"), WeightsBytes: 65_524_246_528}
	h100 := int64(7918 * sizing.GiB / 100) // as torch sees an H100 80GB
	vllmText := regexp.MustCompile(`max seq len \((\d+)\).*(maximum number of tokens that can be stored in KV cache|available KV cache memory)`)

	// Qwen3-32B in bf16 on one H100 at 40,960 tokens: 61 GiB of weights
	// leave about 4.5 GiB, ~18k tokens: vLLM refuses to start.
	e, err := sizing.Estimated(qwen32, sizing.Target{GPUMemory: h100, Image: "vllm/vllm-openai:v0.17.0", Shape: sizing.Shape{TP: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Fits || !vllmText.MatchString(e.Reason) || e.FitMaxModelLen < 15_000 || e.FitMaxModelLen > 20_000 {
		t.Errorf("TP1: fits %v, max len %d, reason %q", e.Fits, e.FitMaxModelLen, e.Reason)
	}
	if !regexp.MustCompile(`or use 2 GPUs \(tensor parallel 2\)`).MatchString(e.Reason) {
		t.Errorf("no GPU count suggested: %s", e.Reason)
	}
	// At TP2 it fits with about 280k tokens of KV.
	e, err = sizing.Estimated(qwen32, sizing.Target{GPUMemory: h100, Image: "vllm/vllm-openai:v0.17.0", Shape: sizing.Shape{TP: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Fits || e.KVCacheTokens < 260_000 || e.KVCacheTokens > 300_000 {
		t.Errorf("TP2: fits %v, %d tokens", e.Fits, e.KVCacheTokens)
	}
	// Weights larger than the GPU: no memory for the cache blocks.
	e, err = sizing.Estimated(qwen32, sizing.Target{GPUMemory: 48 * sizing.GiB, Shape: sizing.Shape{TP: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Fits || !regexp.MustCompile(`No available memory for the cache blocks.*use 2 GPUs`).MatchString(e.Reason) {
		t.Errorf("48 GiB: %q", e.Reason)
	}
	// MLA: DeepSeek-V3's 640 GiB over 8 H200s fit at its full context.
	ds := &modelfiles.Facts{Config: config(t, "deepseek-ai--DeepSeek-V3"), WeightsBytes: 688_586_727_753}
	e, err = sizing.Estimated(ds, sizing.Target{GPUMemory: int64(1398 * sizing.GiB / 10), Shape: sizing.Shape{TP: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Fits {
		t.Errorf("DeepSeek-V3 on 8 H200: %s", e.Reason)
	}
}

// TestOverheadAgainstMeasurements: the activation estimate against the
// llm-d planner's H100 measurements (max_num_seqs 1024, no CUDA graphs in
// the budget, one GPU: 0.15 GiB non-torch on top), within 0.3 GiB; and the
// runbook's own MiniMax-M2.5 on four A100s, which the team runs, starts.
func TestOverheadAgainstMeasurements(t *testing.T) {
	for _, tt := range []struct {
		config   string
		measured float64 // GiB
	}{
		{"Qwen--Qwen3-32B", 5.64},
		{"Qwen--Qwen3-8B", 5.56}, // measured on Qwen3-0.6B, the same vocabulary
		{"meta-llama--Meta-Llama-3.1-8B", 4.76},
	} {
		got := float64(sizing.Overhead(config(t, tt.config), 1, 1024, "vllm/vllm-openai:v0.11.2"))/sizing.GiB - 0.15
		if got < tt.measured-0.3 || got > tt.measured+0.3 {
			t.Errorf("%s: activation %.2f GiB, measured %.2f", tt.config, got, tt.measured)
		}
	}
	minimax := &modelfiles.Facts{Config: config(t, "MiniMaxAI--MiniMax-M2.5"), WeightsBytes: 21432 * sizing.GiB / 100} // the runbook's hf-mem figure
	e, err := sizing.Estimated(minimax, sizing.Target{GPUMemory: 80000 << 20, Utilization: 0.95, MaxModelLen: 196_608, Image: "vllm/vllm-openai:v0.11.2", A100: true,
		MaxNumSeqs: 128, Shape: sizing.Shape{TP: 4, PP: 1, MaxNumBatchedTokens: 16384}})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Fits {
		t.Errorf("the runbook's MiniMax on 4 A100s: %s", e.Reason)
	}
}
