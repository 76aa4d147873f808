// Package sizing does vLLM's start-up arithmetic at plan time: the KV cache
// a request of maxModelLen tokens needs on each GPU, the memory left for it
// after the weights and the engine's overhead, and the verdict vLLM would
// reach 30 to 90 minutes after a sync. The rules and their sources are in
// vLLM's vllm/v1/kv_cache_interface.py, vllm/v1/core/kv_cache_utils.py
// and vllm/v1/worker/gpu_worker.py (vllm-project/vllm, v0.11 to v0.28).
package sizing

import (
	"fmt"

	"modelsync.dev/modelsync/tree/modelfiles"
)

// BlockSize is vLLM's default KV block on CUDA, in tokens.
const BlockSize = 16

// kind is a layer's cache kind.
type kind int

const (
	full kind = iota
	sliding
	linear // Gated DeltaNet / Mamba: a fixed state per sequence
)

// Layout is one GPU's share of the cache: what each of its layers keeps
// per token (attention) or per sequence (linear layers).
type Layout struct {
	// TokenBytes is the bytes per token of one attention layer on this GPU.
	TokenBytes int64
	// StateBytes is a linear layer's state per sequence on this GPU.
	StateBytes int64
	Window     int64
	Counts     map[kind]int64
}

// Shape is how a model is split and how its cache is stored.
type Shape struct {
	TP, PP, DCP int64
	// KVCacheDType is vLLM's --kv-cache-dtype: auto (the model's dtype) or fp8*.
	KVCacheDType        string
	MaxNumBatchedTokens int64
}

func dtypeBytes(dtype string) int64 {
	switch dtype {
	case "float32":
		return 4
	case "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc":
		return 1
	}
	return 2
}

// IsMLA reports whether vLLM caches c's attention as one latent vector.
func IsMLA(c *modelfiles.Config) bool { return c.MLA() }

// layerKinds lists the kind of each layer.
func layerKinds(c *modelfiles.Config) ([]kind, error) {
	kinds := make([]kind, c.Layers)
	switch {
	case len(c.LayerTypes) > 0:
		if int64(len(c.LayerTypes)) != c.Layers {
			return nil, fmt.Errorf("config.json lists %d layer_types for %d layers", len(c.LayerTypes), c.Layers)
		}
		for i, t := range c.LayerTypes {
			switch t {
			case "full_attention":
			case "sliding_attention":
				kinds[i] = sliding
			case "linear_attention":
				kinds[i] = linear
			default:
				return nil, fmt.Errorf("config.json: layer %d is %q, a kind of layer modelsync does not size", i, t)
			}
		}
	case c.FullAttentionInterval > 0:
		for i := range kinds {
			if (int64(i)+1)%c.FullAttentionInterval != 0 {
				kinds[i] = linear
			}
		}
	case c.SlidingWindow > 0 && (c.UseSlidingWindow == nil || *c.UseSlidingWindow):
		for i := range kinds {
			kinds[i] = sliding
		}
	}
	return kinds, nil
}

// LayoutOf is the cache layout of the GPU with the most layers.
func LayoutOf(c *modelfiles.Config, s Shape) (Layout, error) {
	tp, pp := max(1, s.TP), max(1, s.PP)
	kinds, err := layerKinds(c)
	if err != nil {
		return Layout{}, err
	}
	modelBytes := dtypeBytes(c.DType)
	kvBytes := modelBytes
	if s.KVCacheDType != "" && s.KVCacheDType != "auto" {
		kvBytes = dtypeBytes(s.KVCacheDType)
	}
	l := Layout{Window: c.SlidingWindow, Counts: map[kind]int64{}}
	switch {
	case IsMLA(c) && c.ModelType == "deepseek_v32" && kvBytes == 1:
		l.TokenBytes = 656 // fp8_ds_mla, hard-coded in MLAAttentionSpec
	case IsMLA(c):
		// One latent per token, copied whole on every tensor-parallel rank.
		l.TokenBytes = (c.KVLoraRank + c.QKRopeHeadDim) * kvBytes
	default:
		heads := max(1, c.KVHeads/tp) // replicated beyond the KV heads
		l.TokenBytes = 2 * heads * c.HeadDim * kvBytes
	}
	if c.LinearKeyHeads > 0 {
		// Gated DeltaNet (mamba_utils.py): conv (K-1) x (k*nk*2 + v*nv)/tp,
		// temporal (nv/tp) x v x k, in the model's dtype.
		conv := (c.LinearConvKernel - 1) * (c.LinearKeyHeadDim*c.LinearKeyHeads*2 + c.LinearValueHeadDim*c.LinearValueHeads) / tp
		temporal := c.LinearValueHeads / tp * c.LinearValueHeadDim * c.LinearKeyHeadDim
		l.StateBytes = (conv + temporal) * modelBytes
	}
	// The stage with the most layers: each kind's share, rounded up as
	// vLLM gives a remainder's layers to some stages.
	for _, k := range kinds {
		l.Counts[k]++
	}
	for k, n := range l.Counts {
		l.Counts[k] = ceil(n, pp)
	}
	if l.Counts[linear] > 0 && l.StateBytes == 0 {
		return Layout{}, fmt.Errorf("config.json has linear-attention layers without linear_* sizes")
	}
	return l, nil
}

// group is vLLM's KV cache grouping for hybrid models (kv_cache_utils.py):
// pages of one size, layers in groups of equal size, padded.
type group struct {
	block, page, size int64
	// groups per kind
	groups map[kind]int64
}

func (l Layout) grouping() group {
	g := group{block: BlockSize, groups: map[kind]int64{}}
	if l.Counts[linear] > 0 {
		// The attention block grows until its page holds a linear state.
		g.block = BlockSize * ceil(l.StateBytes, BlockSize*l.TokenBytes)
	}
	g.page = g.block * l.TokenBytes
	lo, hi := int64(0), int64(0)
	for _, n := range l.Counts {
		if n == 0 {
			continue
		}
		if lo == 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	g.size = lo
	if 2*hi < 3*lo {
		g.size = hi
	}
	for k, n := range l.Counts {
		if n > 0 {
			g.groups[k] = ceil(n, g.size)
		}
	}
	return g
}

// Need is the KV memory one request of L tokens needs on this GPU
// (_max_memory_usage_bytes_from_groups).
func (l Layout) Need(L int64, s Shape) int64 {
	g := l.grouping()
	var pages int64
	for k, n := range g.groups {
		var tokens int64
		switch k {
		case full:
			tokens = ceil(L, max(1, s.DCP))
			pages += n * ceil(tokens, g.block)
		case sliding:
			tokens = min(l.Window-1+s.MaxNumBatchedTokens, L)
			pages += n * (ceil(tokens, g.block) + 1)
		case linear:
			pages += n // one state page per sequence
		}
	}
	return g.size * g.page * pages
}

// Tokens is the KV cache in tokens that available bytes hold, as vLLM logs
// it ("GPU KV cache size: N tokens").
func (l Layout) Tokens(available int64) int64 {
	g := l.grouping()
	if available <= 0 || g.page == 0 {
		return 0
	}
	var n int64
	for _, c := range g.groups {
		n += c
	}
	blocks := available / g.page / g.size
	return blocks / n * g.block
}

// MaxLen is the largest L whose request fits in available bytes, found by
// vLLM's own binary search; 0 when not even one token fits.
func (l Layout) MaxLen(available, limit int64, s Shape) int64 {
	lo, hi := int64(0), limit
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if l.Need(mid, s) <= available {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// TokenBytesWhole is the KV bytes per token of the whole model before any
// parallel split: every attention layer, every KV head.
func TokenBytesWhole(c *modelfiles.Config, kvCacheDType string) (int64, error) {
	l, err := LayoutOf(c, Shape{TP: 1, PP: 1, KVCacheDType: kvCacheDType})
	if err != nil {
		return 0, err
	}
	return (l.Counts[full] + l.Counts[sliding]) * l.TokenBytes, nil
}

func ceil(a, b int64) int64 { return (a + b - 1) / b }
