// Package manifest reads a models-config/ tree — plain YAML files and
// kustomizations, from the work tree or from a git revision — into Kubernetes
// objects that remember the file and line they came from.
package manifest

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Origin is where an object was written: a file relative to the tree's parent
// (for example models-config/gatewayroute/qwen.yaml) and a 1-based line.
type Origin struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`

	// doc is the YAML document the object was read from, starting at line
	// docLine of File, for At; empty when it was built (kustomize).
	doc     []byte
	docLine int
}

// At is where the field at path (spec, server, gpus) was written in the
// object's document: the deepest part of path that is there, or the
// object's own origin when none is. A number in path indexes a list.
func (o Origin) At(path ...string) Origin {
	at, _ := o.Find(path...)
	return at
}

// Find is At, and whether the whole path was written.
func (o Origin) Find(path ...string) (Origin, bool) {
	own := Origin{File: o.File, Line: o.Line}
	if len(o.doc) == 0 {
		return own, false
	}
	var root yamlv3.Node
	if yamlv3.Unmarshal(o.doc, &root) != nil || len(root.Content) == 0 {
		return own, false
	}
	node, line, found := root.Content[0], 0, 0
	for _, key := range path {
		var next *yamlv3.Node
		switch node.Kind {
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(node.Content); i += 2 {
				if node.Content[i].Value == key {
					line, next = node.Content[i].Line, node.Content[i+1]
					break
				}
			}
		case yamlv3.SequenceNode:
			if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(node.Content) {
				next = node.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		node = next
		found++
	}
	if line == 0 {
		return own, false
	}
	return Origin{File: o.File, Line: o.docLine + line - 1}, found == len(path)
}

func (o Origin) String() string {
	if o.File == "" {
		return ""
	}
	if o.Line == 0 {
		return o.File
	}
	return fmt.Sprintf("%s:%d", o.File, o.Line)
}

// Object is one desired Kubernetes object and where it came from.
type Object struct {
	*unstructured.Unstructured
	Origin Origin
}

// ID identifies an object in a namespace-scoped set.
type ID struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// IDOf returns the identity of u. It reads u's maps directly: a plan asks
// it of every object many times. An apiVersion that is no group/version
// gives no group and kind, as u.GroupVersionKind().
func IDOf(u *unstructured.Unstructured) ID {
	str := func(m map[string]any, key string) string {
		s, _ := m[key].(string)
		return s
	}
	md, _ := u.Object["metadata"].(map[string]any)
	id := ID{Namespace: str(md, "namespace"), Name: str(md, "name")}
	switch apiVersion := str(u.Object, "apiVersion"); strings.Count(apiVersion, "/") {
	case 0:
		id.Kind = str(u.Object, "kind")
	case 1:
		id.Group, _, _ = strings.Cut(apiVersion, "/")
		id.Kind = str(u.Object, "kind")
	}
	return id
}

// ID returns the identity of the object.
func (o Object) ID() ID { return IDOf(o.Unstructured) }

// GroupKind returns the object's group and kind.
func (id ID) GroupKind() schema.GroupKind { return schema.GroupKind{Group: id.Group, Kind: id.Kind} }

// String renders the identity as errors and plans show it: "AIGatewayRoute nrp-llm/qwen".
func (id ID) String() string {
	name := id.Name
	if id.Namespace != "" {
		name = id.Namespace + "/" + id.Name
	}
	return id.Kind + " " + name
}

// Less orders identities stably: group, kind, namespace, name.
func (id ID) Less(o ID) bool {
	return cmp.Or(cmp.Compare(id.Group, o.Group), cmp.Compare(id.Kind, o.Kind), cmp.Compare(id.Namespace, o.Namespace), cmp.Compare(id.Name, o.Name)) < 0
}

// SetAnnotation sets one annotation of u, keeping the others.
func SetAnnotation(u *unstructured.Unstructured, key, value string) {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	u.SetAnnotations(a)
}
