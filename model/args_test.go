package model

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"modelsync.dev/modelsync/manifest"
)

// Each item of spec.server.args reaches the engine as one argument: the
// generated `bash -c` line is run through bash, with the engine replaced by
// printf, and the arguments it receives are compared.
func TestArgsReachTheEngineWhole(t *testing.T) {
	args := []string{"--compilation-config", `{"cudagraph_mode": "PIECEWISE"}`, "--served-model-name", "it's", "--x=$HOME", "--enforce-eager", ""}
	m := &Model{Spec: Spec{Upstream: "org/m", Server: &Server{Image: "vllm/vllm-openai:v0.11.2", Hardware: Hardware{GPUs: 1}, Args: args}}}
	line := m.commandLine(m.Spec.Server.ResolvedVariants()[0])
	engine := "python3 -m vllm.entrypoints.openai.api_server"
	if !strings.HasPrefix(line, engine) {
		t.Fatalf("command line %q does not start with %q", line, engine)
	}
	out, err := exec.Command("bash", "-c", `printf '%s\n' `+strings.TrimPrefix(line, engine)+` | tail -n 7`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(args, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")); d != "" {
		t.Errorf("arguments the engine receives (-want +got):\n%s\nline: %s", d, line)
	}
}

// A served name that is not a DNS name keeps its value as the header clients
// send; the rule gets a valid name derived from it.
func TestRuleName(t *testing.T) {
	for _, tc := range []struct{ served, want string }{
		{"qwen3", "qwen3"},
		{"qwen3.5", "qwen3.5"},
		{"MiniMax-M2.5", "minimax-m2.5-"},
		{"org/model", "org-model-"},
		{"//", ""},
	} {
		m := &Model{Metadata: Metadata{Name: "m"}, Spec: Spec{Served: tc.served}}
		got := m.RuleName()
		if !strings.HasPrefix(got, tc.want) || len(validation.IsDNS1123Subdomain(got)) > 0 {
			t.Errorf("RuleName(%q) = %q, want a DNS name starting %q", tc.served, got, tc.want)
		}
		if rule := m.rule(nil); rule["name"] != got || rule["matches"].([]any)[0].(map[string]any)["headers"].([]any)[0].(map[string]any)["value"] != tc.served {
			t.Errorf("rule of %q: %v", tc.served, rule)
		}
	}
	a := &Model{Spec: Spec{Served: "Org/Model"}}
	b := &Model{Spec: Spec{Served: "org-model"}}
	if a.RuleName() == b.RuleName() {
		t.Errorf("two served names share the rule name %q", a.RuleName())
	}
}

// gpuMemoryUtilization may be written as a number or a string.
func TestGPUMemoryUtilizationAsNumber(t *testing.T) {
	for _, v := range []any{0.95, "0.95", int64(1)} {
		o := manifest.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": APIVersion, "kind": Kind, "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"upstream": "org/m", "server": map[string]any{"image": "i", "weightsGi": int64(16), "paramsB": int64(8), "gpus": int64(1), "gpuMemoryUtilization": v}},
		}}}
		m, err := Decode(o)
		if err != nil {
			t.Errorf("gpuMemoryUtilization: %v: %v", v, err)
			continue
		}
		if line := m.commandLine(m.Spec.Server.ResolvedVariants()[0]); !strings.Contains(line, "--gpu-memory-utilization "+fmt.Sprint(v)) {
			t.Errorf("gpuMemoryUtilization: %v gives %q", v, line)
		}
	}
	bad := manifest.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": APIVersion, "kind": Kind, "metadata": map[string]any{"name": "m"},
		"spec": map[string]any{"upstream": "org/m", "server": map[string]any{"image": "i", "weightsGi": int64(16), "paramsB": int64(8), "gpus": int64(1), "gpuMemoryUtilization": "most"}},
	}}}
	if _, err := Decode(bad); err == nil {
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
		s := &Server{Image: "i", WeightsGi: 16, ParamsB: 8, Multimodal: true, MMProcessorCacheGB: tc.set, Hardware: Hardware{GPUs: 1, APIServers: 1}}
		m := &Model{Spec: Spec{Upstream: "org/m", Server: s}}
		r := s.ResolvedVariants()[0]
		if line := m.commandLine(r); !strings.Contains(line, tc.flag) {
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
	s := &Server{Engine: "sglang", Image: "lmsysorg/sglang:v0.5", WeightsGi: 16, ParamsB: 8, MaxNumBatchedTokens: 8192,
		HFOverrides: `{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}`,
		Hardware:    Hardware{GPUs: 2, TensorParallel: 1, PipelineParallel: 2}}
	m := &Model{Spec: Spec{Upstream: "org/m", Server: s}}
	r := s.ResolvedVariants()[0]
	for _, e := range m.env(r) {
		if strings.HasPrefix(e.Name, "VLLM_") {
			t.Errorf("SGLang server gets vLLM's %s", e.Name)
		}
	}
	if line := m.commandLine(r); !strings.Contains(line, "--chunked-prefill-size 8192") || strings.Contains(line, "--max-num-batched-tokens") {
		t.Errorf("maxNumBatchedTokens not mapped for SGLang: %s", line)
	}
}
