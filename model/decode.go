package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"modelsync.dev/modelsync/manifest"
)

// IsModel reports whether o is a Model spec rather than a Kubernetes object.
func IsModel(o manifest.Object) bool {
	return o.GroupVersionKind().Group == Group && o.GetKind() == Kind
}

// Decode reads a Model from a loaded object. Unknown fields are errors, so a
// misspelt field is reported instead of silently ignored.
func Decode(o manifest.Object) (Model, error) {
	var m Model
	fail := func(msg, hint string) (Model, error) {
		return Model{}, &Error{Origin: o.Origin, Model: o.GetName(), Msg: msg, Hint: hint}
	}
	if o.GetAPIVersion() != APIVersion {
		return fail(fmt.Sprintf("apiVersion %s is not served by this modelsync", o.GetAPIVersion()), "use apiVersion: "+APIVersion)
	}
	obj := o.Object
	if v, ok, _ := unstructured.NestedFieldNoCopy(obj, "spec", "server", "gpuMemoryUtilization"); ok {
		switch n := v.(type) {
		case int64, float64:
			obj = runtime.DeepCopyJSON(obj)
			_ = unstructured.SetNestedField(obj, strconv.FormatFloat(toFloat(n), 'f', -1, 64), "spec", "server", "gpuMemoryUtilization")
		case string:
			if _, err := strconv.ParseFloat(n, 64); err != nil {
				return fail(fmt.Sprintf("spec.server.gpuMemoryUtilization %q is not a number", n), "write a fraction such as 0.95")
			}
		}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &m, true); err != nil {
		return fail(cleanConvertError(err), "see the Model reference in README.md")
	}
	m.Origin = o.Origin
	if err := m.check(); err != nil {
		return fail(err.Error(), "see the Model reference in README.md")
	}
	return m, nil
}

// check enforces what the generator needs; the runbook's advice is in the
// validation package.
func (m *Model) check() error {
	s := m.Spec
	if m.Metadata.Name == "" {
		return errors.New("metadata.name is required")
	}
	set := 0
	for _, b := range []bool{s.External != nil, s.Server != nil, len(s.Combine) > 0} {
		if b {
			set++
		}
	}
	if set != 1 {
		return errors.New("set exactly one of spec.server (served here), spec.external (hosted elsewhere) and spec.combine (round-robin over other models)")
	}
	if s.External != nil && (s.External.Hostname == "" || s.External.Port <= 0) {
		return errors.New("spec.external needs hostname and port")
	}
	if s.Server == nil {
		return nil
	}
	if s.Upstream == "" {
		return errors.New("spec.upstream (the Hugging Face model id served, e.g. Qwen/Qwen3-235B-A22B-Thinking-2507-FP8) is required for a served model")
	}
	srv := s.Server
	switch {
	case srv.Engine != "" && srv.Engine != "vllm" && srv.Engine != "sglang":
		return fmt.Errorf("spec.server.engine %q: use vllm or sglang", srv.Engine)
	case srv.Image == "":
		return errors.New("spec.server.image is required (the runbook: pick the latest vllm/vllm-openai release)")
	case srv.WeightsGi <= 0:
		return errors.New("spec.server.weightsGi is required: the weight size hf-mem reports, in GiB")
	case srv.MMProcessorCacheGB != nil && *srv.MMProcessorCacheGB < 0:
		return errors.New("spec.server.mmProcessorCacheGB must be 0 (no cache) or more")
	case srv.ParamsB <= 0:
		return errors.New("spec.server.paramsB is required: the parameter count in billions (sets the startup probe)")
	}
	names := map[string]bool{}
	for _, r := range srv.ResolvedVariants() {
		if r.GPUs <= 0 {
			return fmt.Errorf("spec.server%s.gpus must be at least 1", variantPath(r))
		}
		if len(srv.Variants) > 0 && (r.Name == "" || names[r.Name]) {
			return errors.New("every spec.server.variants entry needs a unique name (e.g. a100, l40)")
		}
		names[r.Name] = true
	}
	return nil
}

func variantPath(r Resolved) string {
	if r.Name == "" {
		return ""
	}
	return ".variants[" + r.Name + "]"
}

// cleanConvertError turns the converter's messages into field paths a user recognises.
func cleanConvertError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "unknown field") {
		return msg + " (check the spelling)"
	}
	return msg
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}
