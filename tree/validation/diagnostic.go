// Package validation checks a desired set before anything talks to a cluster:
// syntax and identity problems, dangling gateway references, AI Gateway limits,
// and the runbook's advice on parallelism and hand-written workloads. Errors
// block a sync; warnings are reported.
package validation

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/parallel"
	"modelsync.dev/modelsync/tree/generate"
	"modelsync.dev/modelsync/tree/modelfiles"

	"fmt"
	"sort"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// Severity of a diagnostic.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Diagnostic is one problem, where it is, and what to do.
type Diagnostic struct {
	Severity Severity        `json:"severity"`
	Rule     string          `json:"rule"`
	Origin   manifest.Origin `json:"origin"`
	Object   string          `json:"object,omitempty"`
	Message  string          `json:"message"`
	Hint     string          `json:"hint,omitempty"`
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s: %s: ", d.Origin, d.Severity)
	if d.Object != "" {
		s += d.Object + ": "
	}
	s += d.Message
	if d.Hint != "" {
		s += " (" + d.Hint + ")"
	}
	return s
}

// Input is what Validate checks.
type Input struct {
	// Objects is the desired set after generation.
	Objects []manifest.Object
	// Models are the decoded Model specs.
	Models []model.Model
	// Contributions say which model file put which entry into a shared object.
	Contributions []generate.Contribution
	// CRDs are CustomResourceDefinitions from outside the tree (--crds
	// folders): their kinds are known, and objects of those kinds are
	// checked against their schemas and CEL rules, as are objects of the
	// tree's own CRDs.
	CRDs []manifest.Object
	// Served asks the target cluster whether it serves a kind; nil offline.
	// Offline an unknown kind is a warning (it may be served where it is
	// applied); a kind the cluster does not serve is an error.
	Served func(schema.GroupKind) bool
	// Lock holds the facts of the Models' files (modelsync.lock); nil is empty.
	Lock *modelfiles.Lock
}

// Validate runs every rule and returns the diagnostics sorted by origin.
func Validate(in Input) []Diagnostic {
	if in.Lock == nil {
		in.Lock = &modelfiles.Lock{}
	}
	c := newChecker(in)
	rules := []func(*checker){
		checkKinds, checkDuplicates, checkNames, checkDeprecated, checkSecrets,
		checkRouteLimits, checkModelHeaders, checkReferences, checkRoundRobinCovered, checkSecurityPolicies,
		checkModels, checkStart, checkWorkloads, checkSchemas,
	}
	// The rules only read the tree: each runs on its own copy of the
	// checker, on every core, and their findings join in the rules' order.
	found := make([][]Diagnostic, len(rules))
	parallel.For(len(rules), func(i int) {
		own := *c
		own.diags = nil
		rules[i](&own)
		found[i] = own.diags
	})
	for _, ds := range found {
		c.diags = append(c.diags, ds...)
	}
	sort.SliceStable(c.diags, func(i, j int) bool {
		a, b := c.diags[i].Origin, c.diags[j].Origin
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return c.diags
}

// HasErrors reports whether any diagnostic is an error.
func HasErrors(ds []Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

type checker struct {
	in    Input
	diags []Diagnostic
	// byID indexes objects by group/kind/name (the set is one namespace).
	byID map[manifest.ID][]int
	// itemOrigin is where a model put an entry of a shared object.
	itemOrigin map[entry]manifest.Origin
	// byKind indexes objects by group-kind, in the tree's order.
	byKind map[schema.GroupKind][]manifest.Object
}

func newChecker(in Input) *checker {
	c := &checker{in: in, byID: map[manifest.ID][]int{}, itemOrigin: map[entry]manifest.Origin{}, byKind: map[schema.GroupKind][]manifest.Object{}}
	for i, o := range in.Objects {
		id := o.ID()
		c.byKind[id.GroupKind()] = append(c.byKind[id.GroupKind()], o)
		id.Namespace = ""
		c.byID[id] = append(c.byID[id], i)
	}
	for _, ct := range in.Contributions {
		c.itemOrigin[entry{kind: ct.Owner.Kind, name: ct.Owner.Name, key: ct.Key}] = ct.Origin
	}
	return c
}

// entry names one entry of a shared object.
type entry struct{ kind, name, key string }

func (c *checker) add(sev Severity, rule string, origin manifest.Origin, object, msg, hint string) {
	c.diags = append(c.diags, Diagnostic{Severity: sev, Rule: rule, Origin: origin, Object: object, Message: msg, Hint: hint})
}

func (c *checker) has(gk schema.GroupKind, name string) bool {
	return len(c.byID[gateway.ID(gk, "", name)]) > 0
}

// originOf is where an entry of a shared object was written: the model file
// that contributed it, else the shared object's own file.
func (c *checker) originOf(o manifest.Object, key string) manifest.Origin {
	if org, ok := c.itemOrigin[entry{kind: o.GetKind(), name: o.GetName(), key: key}]; ok {
		return org
	}
	return o.Origin
}

func objectName(o manifest.Object) string {
	return o.GetKind() + " " + o.GetName()
}
