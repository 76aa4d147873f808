package validation

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

// DeclaredKind is the group/Kind a CustomResourceDefinition declares, as
// Input.ExtraKinds takes it.
func DeclaredKind(u *unstructured.Unstructured) (string, bool) {
	if u.GetKind() != "CustomResourceDefinition" {
		return "", false
	}
	g, _, _ := unstructured.NestedString(u.Object, "spec", "group")
	k, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
	return g + "/" + k, true
}

func knownKinds(extra []string) map[string]bool {
	known := map[string]bool{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		known[gvk.Group+"/"+gvk.Kind] = true
	}
	known["apiextensions.k8s.io/CustomResourceDefinition"] = true
	for g, kinds := range gateway.Kinds {
		for _, k := range kinds {
			known[g+"/"+k] = true
		}
	}
	for _, k := range extra {
		known[k] = true
	}
	return known
}

func checkKinds(c *checker) {
	var extra []string
	for _, o := range c.in.CRDs {
		if k, ok := DeclaredKind(o.Unstructured); ok {
			extra = append(extra, k)
		}
	}
	for _, m := range c.in.Models {
		if m.Spec.Server != nil && m.Spec.Server.MultiNode() {
			extra = append(extra, workload.LeaderWorkerSet.Group+"/"+workload.LeaderWorkerSet.Kind) // the kind a multi-node Model generates
		}
	}
	for _, o := range c.in.Objects {
		if k, ok := DeclaredKind(o.Unstructured); ok {
			extra = append(extra, k)
		}
	}
	known := knownKinds(extra)
	for _, o := range c.in.Objects {
		gvk := o.GroupVersionKind()
		switch {
		case known[gvk.Group+"/"+gvk.Kind]:
		case c.in.Served == nil:
			c.add(Warning, "unknown-kind", o.Origin, objectName(o),
				fmt.Sprintf("kind %s in %s is not known offline, so it is not checked", gvk.Kind, o.GetAPIVersion()),
				"declare it: pass --crds DIR with its CustomResourceDefinition (the upstream project publishes it, e.g. Envoy AI Gateway v1.1.0's ai-gateway-crds-helm chart), or validate against the cluster with diff")
		case !c.in.Served(gvk.GroupKind()):
			c.add(Error, "unknown-kind", o.Origin, objectName(o),
				fmt.Sprintf("the cluster does not serve kind %s in %s", gvk.Kind, o.GetAPIVersion()),
				"check apiVersion and kind, or install the CRD that serves it")
		}
	}
}

func checkDuplicates(c *checker) {
	for id, idx := range c.byID {
		if len(idx) < 2 {
			continue
		}
		var places []string
		for _, i := range idx {
			places = append(places, c.in.Objects[i].Origin.String())
		}
		for _, i := range idx[1:] {
			c.add(Error, "duplicate-object", c.in.Objects[i].Origin, id.Kind+" "+id.Name,
				fmt.Sprintf("%s %s is defined more than once: %s", id.Kind, id.Name, strings.Join(places, ", ")),
				"keep one definition; a Model already generates its StatefulSet, Service, Backend and AIServiceBackend")
		}
	}
}

func checkNames(c *checker) {
	for _, o := range c.in.Objects {
		name := o.GetName()
		var errs []string
		switch {
		case name == "":
			errs = []string{"metadata.name is empty"}
		case o.GetKind() == "Service" && o.GetAPIVersion() == "v1":
			errs = validation.IsDNS1035Label(name)
		default:
			errs = validation.IsDNS1123Subdomain(name)
		}
		if len(errs) > 0 {
			c.add(Error, "invalid-name", o.Origin, objectName(o), fmt.Sprintf("invalid name %q: %s", name, strings.Join(errs, "; ")),
				"use lower-case letters, digits and '-', starting and ending with a letter or digit")
		}
		if gateway.IsRoute(o) {
			for _, it := range gateway.Items(o.Unstructured) {
				if n, ok := it.Value["name"].(string); ok {
					if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
						c.add(Error, "invalid-name", c.originOf(o, it.Key), objectName(o),
							fmt.Sprintf("rule name %q: %s", n, strings.Join(errs, "; ")), "rule names must be lower-case DNS names")
					}
				}
			}
		}
	}
}

func checkDeprecated(c *checker) {
	for _, o := range c.in.Objects {
		if o.GetAPIVersion() == gateway.AIGatewayGroup+"/v1alpha1" {
			c.add(Warning, "deprecated-api", o.Origin, objectName(o),
				gateway.AIGatewayGroup+"/v1alpha1 is deprecated in AI Gateway v1.1",
				"change apiVersion to "+gateway.AIGatewayAPIVersion+" (the storage version)")
		}
	}
}

// checkSecrets requires every Secret value to be a string (data: base64).
// The API server would refuse any other type with a message quoting the
// value; the diagnostic names the key, never the value.
func checkSecrets(c *checker) {
	for _, o := range c.in.Objects {
		if o.GetAPIVersion() != "v1" || o.GetKind() != "Secret" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			raw, present := o.Object[field]
			if !present || raw == nil {
				continue
			}
			values, ok := raw.(map[string]any)
			if !ok {
				c.add(Error, "secret-value", o.Origin, objectName(o), field+" is not a map of key to value",
					"write "+field+" as key: value lines")
				continue
			}
			for _, key := range sortedKeys(values) {
				s, ok := values[key].(string)
				switch {
				case !ok:
					c.add(Error, "secret-value", o.Origin, objectName(o), fmt.Sprintf("%s.%s is not a string (the value is not shown)", field, key),
						"quote the value; a list or map must be written as one string")
				case field == "data" && !isBase64(s):
					c.add(Error, "secret-value", o.Origin, objectName(o), fmt.Sprintf("data.%s is not base64 (the value is not shown)", key),
						"encode it with base64, or move it to stringData")
				}
			}
		}
	}
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Shapes checks the objects as written, before generation (which rewrites
// the lists of shared objects): the rules of a route and the targetRefs of a
// policy must be lists of objects; anything else would be dropped silently.
func Shapes(raw []manifest.Object) []Diagnostic {
	c := &checker{}
	for _, o := range raw {
		for _, e := range gateway.ShapeErrors(o.Unstructured) {
			c.add(Error, "invalid-entry", o.Origin.At(e.Path...), objectName(o), e.Msg, "write each entry as an object (name:, kind:, … on their own lines)")
		}
	}
	return c.diags
}
