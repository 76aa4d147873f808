package engine

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"modelsync.dev/modelsync/tree/model"
)

// pipelineEnv are the runbook's timeouts for pipeline parallelism, which can
// take minutes to initialise after the API server reports startup.
var pipelineEnv = []corev1.EnvVar{
	{Name: "VLLM_RPC_TIMEOUT", Value: "1200000"},
	{Name: "VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", Value: "1200"},
	{Name: "VLLM_ENGINE_ITERATION_TIMEOUT_S", Value: "1200"},
}

// Env is the engine container's environment: what the runbook makes
// mandatory for the Model's fields, then spec.server.env.
func Env(m *model.Model, r model.Resolved) []corev1.EnvVar {
	return append(generatedEnv(m, r), m.Spec.Server.Env...)
}

// generatedEnv is the environment the fields call for (vLLM's only).
func generatedEnv(m *model.Model, r model.Resolved) []corev1.EnvVar {
	s := m.Spec.Server
	var env []corev1.EnvVar
	if s.EngineName() != VLLM {
		return nil
	}
	if r.PipelineParallel > 1 {
		env = append(env, pipelineEnv...)
	}
	if RaisesContext(s.HFOverrides) {
		env = append(env, corev1.EnvVar{Name: "VLLM_ALLOW_LONG_MAX_MODEL_LEN", Value: "1"})
	}
	return append(env, offloadEnv(s)...)
}

// RaisesContext reports whether --hf-overrides carries a RoPE scaling
// override, which lets --max-model-len exceed the model's trained context.
func RaisesContext(overrides string) bool {
	return strings.Contains(overrides, "rope_scaling") || strings.Contains(overrides, "rope_parameters")
}

// offloadEnv is the environment the runbook makes mandatory for offloading.
func offloadEnv(s *model.Server) []corev1.EnvVar {
	if !s.Offloading() {
		return nil
	}
	env := []corev1.EnvVar{
		{Name: "PYTORCH_ALLOC_CONF", Value: "expandable_segments:True"},
		{Name: "VLLM_WEIGHT_OFFLOADING_DISABLE_PIN_MEMORY", Value: "1"},
	}
	if s.Offload.DisableUVA {
		env = append(env, corev1.EnvVar{Name: "VLLM_WEIGHT_OFFLOADING_DISABLE_UVA", Value: "1"})
	}
	return env
}
