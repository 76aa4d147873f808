package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"modelsync.dev/modelsync/tree/manifest"
)

// IsModel reports whether o is a Model spec rather than a Kubernetes object.
func IsModel(o manifest.Object) bool {
	return o.GroupVersionKind().Group == Group && o.GetKind() == Kind
}

// plainDecimal is a number as every engine's flag parser reads it.
var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$`)

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
	if err := checkNumbers(o); err != nil {
		return Model{}, err
	}
	obj := o.Object
	if v, ok, _ := unstructured.NestedFieldNoCopy(obj, "spec", "server", "gpuMemoryUtilization"); ok {
		switch n := v.(type) {
		case int64, float64:
			obj = runtime.DeepCopyJSON(obj)
			_ = unstructured.SetNestedField(obj, strconv.FormatFloat(toFloat(n), 'f', -1, 64), "spec", "server", "gpuMemoryUtilization")
		case string:
			if !plainDecimal.MatchString(n) {
				return fail(fmt.Sprintf("spec.server.gpuMemoryUtilization %q is not a plain decimal number", n), "write a fraction such as 0.95 (the engine's parser takes no hex, exponent or NaN)")
			}
		}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &m, true); err != nil {
		if path, msg := fieldError(obj, err); path != nil {
			return Model{}, &Error{Origin: o.Origin.At(path...), Model: o.GetName(), Msg: msg, Hint: "see the Model reference in docs/models.md"}
		}
		return fail(cleanConvertError(err), "see the Model reference in docs/models.md")
	}
	m.Origin = o.Origin
	if err := m.check(); err != nil {
		return fail(err.Error(), "see the Model reference in docs/models.md")
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
	if s.Revision != "" && !revisionPattern.MatchString(s.Revision) {
		return fmt.Errorf("spec.revision %q: give a commit, branch or tag of the upstream repository (letters, digits, . _ - /)", s.Revision)
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
	case srv.WeightsGi <= 0 && s.Revision == "":
		return errors.New("spec.server.weightsGi is required: the weight size hf-mem reports, in GiB (or set spec.revision, and modelsync lock reads it from the model's files)")
	case srv.MMProcessorCacheGB != nil && *srv.MMProcessorCacheGB < 0:
		return errors.New("spec.server.mmProcessorCacheGB must be 0 (no cache) or more")
	case srv.ParamsB <= 0 && s.Revision == "":
		return errors.New("spec.server.paramsB is required: the parameter count in billions (sets the startup probe; or set spec.revision, and modelsync lock reads it from the model's files)")
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

// fieldError names the field a Model gets wrong and what it should be, by
// decoding it again as JSON, whose errors carry the field's path.
func fieldError(obj map[string]any, convertErr error) ([]string, string) {
	if m := unknownField.FindStringSubmatch(convertErr.Error()); m != nil {
		return strings.Split(m[1], "."), fmt.Sprintf("unknown field %q (check the spelling)", m[1])
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, ""
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Model
	err = dec.Decode(&m)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		var path []string
		for _, p := range strings.Split(typeErr.Field, ".") {
			if p != "" && !unicode.IsUpper(rune(p[0])) { // an inlined struct's Go name is not a field
				path = append(path, p)
			}
		}
		field := strings.Join(path, ".")
		return path, fmt.Sprintf("%s: want %s, got %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	}
	return nil, ""
}

// unknownField finds the path in the converter's strict-decoding error.
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// jsonKind names a Go kind as a Model's author thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "a whole number"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice":
		return "a list"
	case kind == "struct", kind == "map", kind == "ptr":
		return "an object"
	}
	return kind
}

// revisionPattern is what a Hugging Face revision may be: a commit, branch or tag.
var revisionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)
