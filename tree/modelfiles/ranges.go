package modelfiles

import (
	"fmt"
	"regexp"
)

// The ranges a model's facts must lie in. Wider than any model published
// (DeepSeek-V3: 61 layers, 128 heads, 671 B parameters, 642 GiB of
// weights), narrow enough that no product of them in sizing overflows an
// int64.
const (
	maxLayers     = 2048
	maxHeads      = 2048
	maxDim        = 8192    // head dims, ranks, linear-attention dims
	maxHidden     = 1 << 18 // hidden size
	maxPositions  = 1 << 24 // 16,777,216 tokens; also bounds sliding windows
	maxVocab      = 1 << 24
	maxExperts    = 100_000
	minBytes      = 1 << 20 // 1 MiB: no served model is smaller
	maxBytes      = 1 << 50 // 1 PiB of weights
	maxParameters = 1 << 50
	maxShards     = 100_000
)

// MaxPositions is the longest context modelsync sizes: the bound of a
// config's max_position_embeddings, a Model's maxModelLen and size's
// --max-model-len, chosen with the other bounds so that a whole model's KV
// cache for it (every layer, KV head and head dimension at 4 bytes) fits in
// an int64.
const MaxPositions = maxPositions

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Check is nil when every fact lies in its range.
func (f *Facts) Check() error {
	if f == nil {
		return fmt.Errorf("no facts")
	}
	if !commitPattern.MatchString(f.Commit) {
		return fmt.Errorf("commit %q is not a 40-digit commit", f.Commit)
	}
	if f.Config == nil {
		return fmt.Errorf("no config")
	}
	if err := f.Config.check(); err != nil {
		return err
	}
	for _, r := range []struct {
		name      string
		v, lo, hi int64
	}{
		{"weightsBytes", f.WeightsBytes, minBytes, maxBytes},
		{"parameters", f.Parameters, 1, maxParameters},
		{"shards", int64(f.Shards), 1, maxShards},
	} {
		if r.v < r.lo || r.v > r.hi {
			return fmt.Errorf("%s %d is out of range [%d, %d]", r.name, r.v, r.lo, r.hi)
		}
	}
	var sum int64
	for dtype, n := range f.BytesByDType {
		if n < 0 || n > f.WeightsBytes {
			return fmt.Errorf("bytesByDType[%s] %d is out of range [0, weightsBytes %d]", dtype, n, f.WeightsBytes)
		}
		sum += n
	}
	if sum > f.WeightsBytes {
		return fmt.Errorf("bytesByDType adds up to %d, more than weightsBytes %d", sum, f.WeightsBytes)
	}
	return nil
}

// check is nil when the config's geometry lies in its ranges: what a
// config.json from the Hub or a lock must hold before sizing multiplies it.
func (c *Config) check() error {
	for _, r := range []struct {
		name      string
		v, lo, hi int64
	}{
		{"num_hidden_layers", c.Layers, 1, maxLayers},
		{"num_attention_heads", c.Heads, 1, maxHeads},
		{"num_key_value_heads", c.KVHeads, 1, maxHeads},
		{"head_dim", c.HeadDim, 1, maxDim},
		{"hidden_size", c.HiddenSize, 1, maxHidden},
		{"kv_lora_rank", c.KVLoraRank, 0, maxDim},
		{"qk_rope_head_dim", c.QKRopeHeadDim, 0, maxDim},
		{"sliding_window", c.SlidingWindow, 0, maxPositions},
		{"full_attention_interval", c.FullAttentionInterval, 0, maxLayers},
		{"linear_conv_kernel_dim", c.LinearConvKernel, 0, maxDim},
		{"linear_key_head_dim", c.LinearKeyHeadDim, 0, maxDim},
		{"linear_value_head_dim", c.LinearValueHeadDim, 0, maxDim},
		{"linear_num_key_heads", c.LinearKeyHeads, 0, maxHeads},
		{"linear_num_value_heads", c.LinearValueHeads, 0, maxHeads},
		{"experts", c.Experts, 0, maxExperts},
		{"max_position_embeddings", c.MaxPositions, 0, maxPositions},
		{"vocab_size", c.VocabSize, 0, maxVocab},
	} {
		if r.v < r.lo || r.v > r.hi {
			return fmt.Errorf("config %s %d is out of range [%d, %d]", r.name, r.v, r.lo, r.hi)
		}
	}
	if len(c.LayerTypes) > 0 && int64(len(c.LayerTypes)) != c.Layers {
		return fmt.Errorf("config lists %d layer_types for %d layers", len(c.LayerTypes), c.Layers)
	}
	return nil
}
