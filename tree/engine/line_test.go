package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// gpuMemoryUtilization may be written as a number or a string.
func TestGPUMemoryUtilizationAsNumber(t *testing.T) {
	for _, v := range []any{0.95, "0.95", int64(1)} {
		o := manifest.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": model.APIVersion, "kind": model.Kind, "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"upstream": "org/m", "server": map[string]any{"image": "i", "weightsGi": int64(16), "paramsB": int64(8), "gpus": int64(1), "gpuMemoryUtilization": v}},
		}}}
		m, err := model.Decode(o)
		if err != nil {
			t.Errorf("gpuMemoryUtilization: %v: %v", v, err)
			continue
		}
		if line := engine.Line(&m, m.Spec.Server.ResolvedVariants()[0]); !strings.Contains(line, "--gpu-memory-utilization "+fmt.Sprint(v)) {
			t.Errorf("gpuMemoryUtilization: %v gives %q", v, line)
		}
	}
	bad := manifest.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": model.APIVersion, "kind": model.Kind, "metadata": map[string]any{"name": "m"},
		"spec": map[string]any{"upstream": "org/m", "server": map[string]any{"image": "i", "weightsGi": int64(16), "paramsB": int64(8), "gpus": int64(1), "gpuMemoryUtilization": "most"}},
	}}}
	if _, err := model.Decode(bad); err == nil {
		t.Error(`gpuMemoryUtilization: "most" accepted`)
	}
}

// mmProcessorCacheGB: 0 turns the cache off; unset is vLLM's default of 4.
func TestMMProcessorCacheZero(t *testing.T) {
	zero, eight := 0, 8
	for _, tc := range []struct {
		set  *int
		flag string
		mem  int64
	}{{nil, "--mm-processor-cache-gb 4", 9 + 4}, {&zero, "--mm-processor-cache-gb 0", 9}, {&eight, "--mm-processor-cache-gb 8", 9 + 8}} {
		s := &model.Server{Image: "i", WeightsGi: 16, ParamsB: 8, Multimodal: true, MMProcessorCacheGB: tc.set, Hardware: model.Hardware{GPUs: 1, APIServers: 1}}
		m := &model.Model{Spec: model.Spec{Upstream: "org/m", Server: s}}
		r := s.ResolvedVariants()[0]
		if line := engine.Line(m, r); !strings.Contains(line, tc.flag) {
			t.Errorf("mmProcessorCacheGB %v: %q lacks %q", tc.set, line, tc.flag)
		}
		if req, _ := s.MemoryGi(r); req != tc.mem {
			t.Errorf("mmProcessorCacheGB %v: memory request %dGi, want %dGi", tc.set, req, tc.mem)
		}
	}
}

// An SGLang server gets no vLLM environment, and maxNumBatchedTokens as
// SGLang's --chunked-prefill-size.
func TestSGLangMapping(t *testing.T) {
	s := &model.Server{Engine: "sglang", Image: "lmsysorg/sglang:v0.5", WeightsGi: 16, ParamsB: 8, MaxNumBatchedTokens: 8192,
		HFOverrides: `{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}`,
		Hardware:    model.Hardware{GPUs: 2, TensorParallel: 1, PipelineParallel: 2}}
	m := &model.Model{Spec: model.Spec{Upstream: "org/m", Server: s}}
	r := s.ResolvedVariants()[0]
	for _, e := range engine.Env(m, r) {
		if strings.HasPrefix(e.Name, "VLLM_") {
			t.Errorf("SGLang server gets vLLM's %s", e.Name)
		}
	}
	if line := engine.Line(m, r); !strings.Contains(line, "--chunked-prefill-size 8192") || strings.Contains(line, "--max-num-batched-tokens") {
		t.Errorf("maxNumBatchedTokens not mapped for SGLang: %s", line)
	}
}
