package modelfiles

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Config is the part of a model's config.json that sizing reads: the text
// model's geometry (text_config when there is one) and its quantization.
type Config struct {
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures,omitempty"`
	Layers        int64    `json:"num_hidden_layers"`
	Heads         int64    `json:"num_attention_heads"`
	KVHeads       int64    `json:"num_key_value_heads,omitempty"`
	HeadDim       int64    `json:"head_dim,omitempty"`
	HiddenSize    int64    `json:"hidden_size"`
	// MLA (DeepSeek-V2/V3, GLM-5): the latent cache replaces K and V.
	KVLoraRank    int64 `json:"kv_lora_rank,omitempty"`
	QKRopeHeadDim int64 `json:"qk_rope_head_dim,omitempty"`
	// Sliding window: LayerTypes names each layer's attention
	// (full_attention, sliding_attention, linear_attention).
	SlidingWindow    int64    `json:"sliding_window,omitempty"`
	UseSlidingWindow *bool    `json:"use_sliding_window,omitempty"`
	LayerTypes       []string `json:"layer_types,omitempty"`
	// Hybrid linear attention (Qwen3-Next's Gated DeltaNet): one full
	// attention layer every FullAttentionInterval layers.
	FullAttentionInterval int64 `json:"full_attention_interval,omitempty"`
	LinearConvKernel      int64 `json:"linear_conv_kernel_dim,omitempty"`
	LinearKeyHeadDim      int64 `json:"linear_key_head_dim,omitempty"`
	LinearValueHeadDim    int64 `json:"linear_value_head_dim,omitempty"`
	LinearKeyHeads        int64 `json:"linear_num_key_heads,omitempty"`
	LinearValueHeads      int64 `json:"linear_num_value_heads,omitempty"`

	// Experts is the routed experts of a mixture-of-experts model.
	Experts int64 `json:"experts,omitempty"`

	MaxPositions int64  `json:"max_position_embeddings"`
	VocabSize    int64  `json:"vocab_size,omitempty"`
	DType        string `json:"torch_dtype,omitempty"`
	Quantization string `json:"quant_method,omitempty"`
}

// ParseConfig reads config.json. Python writes NaN and Infinity, which JSON
// has not; they are read as null (no field sizing reads is one).
func ParseConfig(data []byte) (*Config, error) {
	var doc map[string]any
	if err := json.Unmarshal(sanitize(data), &doc); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	text := doc
	if tc, ok := doc["text_config"].(map[string]any); ok {
		text = tc
		if _, ok := text["model_type"]; !ok {
			text["model_type"] = doc["model_type"]
		}
	}
	data, _ = json.Marshal(text)
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.DType == "" {
		c.DType, _ = text["dtype"].(string)
	}
	if c.DType == "" {
		c.DType, _ = doc["torch_dtype"].(string)
	}
	if q, ok := doc["quantization_config"].(map[string]any); ok {
		c.Quantization, _ = q["quant_method"].(string)
	}
	if c.Layers <= 0 || c.Heads <= 0 || c.HiddenSize <= 0 {
		return nil, fmt.Errorf("config.json has no num_hidden_layers, num_attention_heads or hidden_size: not a transformer's config?")
	}
	for _, k := range []string{"num_local_experts", "n_routed_experts", "num_experts"} {
		if n, ok := text[k].(float64); ok && n > 0 {
			c.Experts = int64(n)
		}
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.HiddenSize / c.Heads
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return &c, nil
}

// sanitize replaces the bare tokens NaN, Infinity and -Infinity outside
// strings with null.
func sanitize(data []byte) []byte {
	var b strings.Builder
	s := string(data)
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			b.WriteByte(c)
			switch c {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
		}
		replaced := false
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			if strings.HasPrefix(s[i:], tok) {
				b.WriteString("null")
				i += len(tok) - 1
				replaced = true
				break
			}
		}
		if !replaced {
			b.WriteByte(c)
		}
	}
	return []byte(b.String())
}

// mlaTypes are the model types vLLM runs with multi-head latent attention
// when kv_lora_rank is set (is_deepseek_mla).
var mlaTypes = map[string]bool{"deepseek_v2": true, "deepseek_v3": true, "deepseek_v32": true, "deepseek_mtp": true,
	"glm_moe_dsa": true, "glm4_moe_lite": true, "kimi_k2": true, "kimi_linear": true}

// MLA reports whether vLLM caches the model's attention as one latent vector.
func (c *Config) MLA() bool { return c.KVLoraRank > 0 && mlaTypes[c.ModelType] }
