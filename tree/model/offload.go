package model

// Offload moves weights or KV cache from VRAM to CPU RAM (the runbook's "CPU
// Offloading"), to fit a model or make room for KV cache. vLLM only.
type Offload struct {
	// Weights is the weight offload backend: uva (a part of the weights, in
	// WeightsGB, read over unified virtual addressing) or prefetch (every
	// layer, fetched ahead of use).
	Weights string `json:"weights,omitempty"`
	// WeightsGB is the offloaded weight size in GiB: --cpu-offload-gb for
	// uva (required); for prefetch, what the pod's memory grows by (default:
	// all the weights, weightsGi).
	WeightsGB *float64 `json:"weightsGB,omitempty"`
	// KVGB is the KV cache offloaded to CPU RAM, in GiB
	// (--kv-offloading-backend native --kv-offloading-size).
	KVGB int `json:"kvGB,omitempty"`
	// DisableUVA sets VLLM_WEIGHT_OFFLOADING_DISABLE_UVA=1, which some models
	// and GPUs need (vllm-project/vllm#32993).
	DisableUVA bool `json:"disableUVA,omitempty"`
}

// Offloading reports whether anything is offloaded to CPU RAM.
func (s *Server) Offloading() bool {
	return s.Offload != nil && (s.Offload.Weights != "" || s.Offload.KVGB > 0)
}

// OffloadedGi is the CPU RAM the offloaded weights and KV cache take.
func (s *Server) OffloadedGi() float64 {
	if !s.Offloading() {
		return 0
	}
	o := s.Offload
	gi := float64(o.KVGB)
	switch {
	case o.WeightsGB != nil:
		gi += *o.WeightsGB
	case o.Weights == "prefetch":
		gi += s.WeightsGi
	}
	return gi
}
