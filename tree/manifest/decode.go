package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// MaxFileSize bounds one manifest file. A models-config file is a few KB; the
// bound keeps a mistaken binary or generated blob from exhausting memory.
const MaxFileSize = 8 << 20

// Error is a problem with a file's content, located at file:line.
type Error struct {
	Origin Origin
	Msg    string
}

func (e *Error) Error() string { return e.Origin.String() + ": " + e.Msg }

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Decode splits a multi-document YAML file into objects. file is the path
// recorded in each object's Origin. Empty documents are skipped; a `kind: List`
// document is expanded into its items.
func Decode(file string, data []byte) ([]Object, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Origin{File: file}, fmt.Sprintf("file is %d bytes, more than the %d a manifest may have", len(data), MaxFileSize)}
	}
	var objs []Object
	var errs []error
	for _, doc := range splitDocuments(data) {
		got, err := decodeDocument(file, doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, got...)
	}
	return objs, errors.Join(errs...)
}

type document struct {
	line int // 1-based line of the document's first line
	data []byte
}

// splitDocuments cuts data at lines that start with "---".
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine, line := 0, 1, 1
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data) + 1
		if end >= 0 {
			next = i + end + 1
		}
		lineText := data[i:min(next, len(data))]
		if bytes.HasPrefix(lineText, []byte("---")) && isSeparator(lineText[3:]) {
			docs = append(docs, document{startLine, data[start:i]})
			start, startLine = min(next, len(data)), line+1
		}
		i = next
		line++
	}
	docs = append(docs, document{startLine, data[start:]})
	return docs
}

func isSeparator(rest []byte) bool {
	rest = bytes.TrimRight(rest, "\r\n")
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '#'
}

func decodeDocument(file string, doc document) ([]Object, error) {
	origin := Origin{File: file, Line: firstContentLine(doc), doc: doc.data, docLine: doc.line}
	js, err := yaml.YAMLToJSONStrict(doc.data)
	if err != nil && strings.Contains(err.Error(), "already set in map") {
		return nil, duplicateKey(origin, doc)
	}
	if err != nil {
		return nil, &Error{relocate(origin, doc.line, err), "invalid YAML: " + yamlMessage(err) + "; fix the syntax"}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil
	}
	var m map[string]any
	if err := utiljson.Unmarshal(js, &m); err != nil {
		return nil, &Error{origin, "a manifest must be a YAML mapping with apiVersion, kind and metadata"}
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, &Error{origin, "object has no apiVersion or kind; every document must say what it is"}
	}
	if items, ok := m["items"].([]any); ok && u.IsList() {
		var objs []Object
		for i, it := range items {
			im, ok := it.(map[string]any)
			if !ok {
				return nil, &Error{origin, fmt.Sprintf("%s item %d is not an object", u.GetKind(), i)}
			}
			objs = append(objs, Object{&unstructured.Unstructured{Object: im}, Origin{File: origin.File, Line: origin.Line}})
		}
		return objs, nil
	}
	return []Object{{u, origin}}, nil
}

// firstContentLine skips leading blank and comment lines so the origin points
// at the object itself.
func firstContentLine(doc document) int {
	line := doc.line
	for _, l := range bytes.Split(doc.data, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return line
		}
		line++
	}
	return doc.line
}

// relocate turns a parser's document-relative "line N" into a file line.
func relocate(o Origin, docLine int, err error) Origin {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			o.Line = docLine + n - 1
		}
	}
	return o
}

func yamlMessage(err error) string {
	msg := err.Error()
	msg = yamlLine.ReplaceAllString(msg, "")
	for _, p := range []string{"error converting YAML to JSON: ", "yaml: ", ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// duplicateKey locates a key set twice in one mapping: YAML parsers keep the
// last, while a reviewer reads the first, so it is an error at both lines.
func duplicateKey(origin Origin, doc document) error {
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(doc.data, &root); err == nil {
		if key, first, second, ok := firstDuplicate(&root); ok {
			origin.Line = doc.line + second - 1
			return &Error{origin, fmt.Sprintf("key %q is set twice, at lines %d and %d: a parser keeps the second, a reviewer reads the first; keep one",
				key, doc.line+first-1, doc.line+second-1)}
		}
	}
	return &Error{origin, "a key is set twice in one mapping; keep one"}
}

func firstDuplicate(n *yamlv3.Node) (key string, first, second int, ok bool) {
	if n.Kind == yamlv3.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, dup := seen[k.Value]; dup && k.Kind == yamlv3.ScalarNode {
				return k.Value, line, k.Line, true
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if key, first, second, ok = firstDuplicate(c); ok {
			return key, first, second, ok
		}
	}
	return "", 0, 0, false
}
