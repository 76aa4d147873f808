package validation

import (
	"context"
	gojson "encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/client-go/kubernetes/scheme"
	kjson "sigs.k8s.io/json"

	"modelsync.dev/modelsync/tree/manifest"
)

// A custom resource is checked offline as the API server checks it on
// create, with the API server's own code (k8s.io/apiextensions-apiserver):
// unknown fields (the structural schema's pruning, which strict field
// validation turns into errors), then the schema's defaults, then the
// OpenAPI schema and the CEL rules (x-kubernetes-validations). A built-in
// kind is decoded strictly into its Go type: unknown and mistyped fields.

// crdSchema is one served version of a CustomResourceDefinition, ready to
// check objects.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// schemas indexes the CRDs' versions by the kind they serve.
type schemas map[schema.GroupVersionKind]*crdSchema

// newSchemas builds the checks of crds; a CRD whose schema cannot be built
// is reported, not fatal.
func newSchemas(crds []manifest.Object) (schemas, []Diagnostic) {
	out := schemas{}
	var problems []Diagnostic
	bad := func(o manifest.Object, msg string) {
		problems = append(problems, Diagnostic{Severity: Warning, Rule: "schema", Origin: o.Origin, Object: objectName(o),
			Message: msg + "; objects of its kind are not checked against it", Hint: "fix the CustomResourceDefinition"})
	}
	for _, u := range crds {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
			bad(u, err.Error())
			continue
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			s, err := buildSchema(v.Schema.OpenAPIV3Schema)
			if err != nil {
				bad(u, fmt.Sprintf("version %s: %v", v.Name, err))
				continue
			}
			out[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] = s
		}
	}
	return out, problems
}

func buildSchema(v1 *apiextensionsv1.JSONSchemaProps) (*crdSchema, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1, internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, err
	}
	return &crdSchema{structural: structural, validator: validator, cel: cel.NewValidator(structural, true, celconfig.PerCallLimit)}, nil
}

// check returns the problems of u against its kind's schema, one line each,
// with the field's path; never the value, which may be a whole object.
func (s *crdSchema) check(ctx context.Context, u *unstructured.Unstructured) []string {
	obj := runtime.DeepCopyJSON(u.Object)
	var out []string
	for _, p := range structuralpruning.PruneWithOptions(obj, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		if !strings.HasPrefix(p, "metadata.") {
			out = append(out, fmt.Sprintf("%s: unknown field", p))
		}
	}
	structuraldefaulting.Default(obj, s.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, s.validator)
	if s.cel != nil {
		celErrs, _ := s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	for _, e := range errs {
		out = append(out, short(e))
	}
	sort.Strings(out)
	return out
}

// short is a field error without its value.
func short(e *field.Error) string {
	msg := e.Type.String()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Field == "" {
		return msg
	}
	return e.Field + ": " + msg
}

// strictDecode decodes a built-in kind into its Go type as the API
// server's strict field validation does, and returns the problems, one line
// each: unknown and duplicate fields, and a value of the wrong type.
func strictDecode(u *unstructured.Unstructured) []string {
	typed, err := scheme.Scheme.New(u.GroupVersionKind())
	if err != nil {
		return nil // not a built-in kind at this version
	}
	data, err := gojson.Marshal(u.Object)
	if err != nil {
		return []string{err.Error()}
	}
	strict, err := kjson.UnmarshalStrict(data, typed)
	var out []string
	for _, e := range strict {
		out = append(out, e.Error())
	}
	var typeErr *gojson.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		out = append(out, fmt.Sprintf("%s: %s value where the API expects %s", typeErr.Field, typeErr.Value, typeErr.Type))
	case err != nil:
		out = append(out, err.Error())
	}
	return out
}

// checkSchemas checks every object against its CRD's schema (from --crds or
// the tree), and every built-in object strictly.
func checkSchemas(c *checker) {
	crds := append([]manifest.Object(nil), c.in.CRDs...)
	for _, o := range c.in.Objects {
		if _, ok := DeclaredKind(o.Unstructured); ok {
			crds = append(crds, o)
		}
	}
	byKind, problems := newSchemas(crds)
	c.diags = append(c.diags, problems...)
	// What the generator writes from a Model is checked by its own tests,
	// and by the API server's dry run, not again on every load.
	generated := map[string]bool{}
	for _, m := range c.in.Models {
		generated[m.Origin.File] = true
	}
	ctx := context.Background()
	for _, o := range c.in.Objects {
		var found []string
		if s, ok := byKind[o.GroupVersionKind()]; ok {
			found = s.check(ctx, o.Unstructured)
		} else if !generated[o.Origin.File] && scheme.Scheme.Recognizes(o.GroupVersionKind()) {
			found = strictDecode(o.Unstructured)
		}
		for _, p := range found {
			c.add(Error, "schema", o.Origin, objectName(o), p, "fix the field: the API server refuses the object as written")
		}
	}
}
