// Package rbac writes the namespaced Role (and RoleBinding) an identity
// needs to run modelsync's diff, sync and prune for a tree: exactly the
// verbs modelsync sends, on exactly the resources it touches.
package rbac

import (
	"slices"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Verbs modelsync sends, by purpose.
var (
	// memberVerbs: list members by label, read one (health, re-checks),
	// server-side apply (patch; create when the apply creates the object,
	// also in dry-run), adopt (patch), prune (delete).
	memberVerbs = []string{"get", "list", "create", "patch", "delete"}
	// parentVerbs: the inventory Secret is read and server-side applied:
	// get and patch by its name only (no other Secret of the namespace is
	// readable through them), create unrestricted (the API server cannot
	// check a name on creation).
	parentVerbs = []string{"get", "patch"}
	// leaseVerbs: acquire (get, create), renew and release (update).
	leaseVerbs = []string{"get", "create", "update"}
	// claimVerbs: the plan lists the claims of pruned StatefulSets; prune
	// --delete-pvcs deletes the approved ones; a replace expands the claims
	// its new claim templates ask more of.
	claimVerbs = []string{"list", "patch", "delete"}
	// podVerbs: sync --wait and status ask why a workload's pods cannot be
	// scheduled.
	podVerbs = []string{"list"}
)

// The plan identity's verbs: diff reads the members and the inventory, lists
// the claims of pruned StatefulSets, and dry-runs server-side apply, which
// the API server authorizes with the same verbs as a write (patch; create
// for an object that does not exist yet). DryRunOnly keeps it from writing.
var (
	planMemberVerbs = []string{"get", "list", "create", "patch"}
	// planParentVerbs: the inventory Secret, by its name only: the plan
	// identity reads no other Secret (a tree holding Secrets aside, whose
	// members it must list and dry-run; see SecretsReadable).
	planParentVerbs = []string{"get"}
	planClaimVerbs  = []string{"list"}
)

// Identity is what a Role is for.
type Identity string

const (
	// Apply runs sync and prune: writes and deletes.
	Apply Identity = "apply"
	// Plan runs diff in merge request pipelines: dry runs only, enforced
	// by the DryRunOnly policy.
	Plan Identity = "plan"
)

// Options configures Role.
type Options struct {
	// Identity is apply (the default) or plan.
	Identity Identity
	// Namespace is the target namespace.
	Namespace string
	// Name of the Role and RoleBinding.
	Name string
	// Kinds are the kinds of the tree, and of members that are still in the
	// inventory (prune deletes them).
	Kinds []schema.GroupVersionKind
	// Subjects, when any, get a RoleBinding.
	Subjects []rbacv1.Subject
	// Inventory names the inventory Secret; default "modelsync".
	Inventory string
	// Secrets are the names of the tree's Secrets, and of Secrets that left
	// it and still have to be pruned: the only Secrets besides the
	// inventory the identity may read (by name).
	Secrets []string
	// Roles are the Roles the tree holds. The API server lets an identity
	// write a Role only when it holds every permission the Role grants:
	// the identity is granted the Roles' rules themselves and never
	// escalate, so it can write these Roles as the tree has them and
	// nothing wider (a Role rewritten to */*/*). It holds bind on these
	// names alone: a binding to a Role that does not exist yet (the first
	// plan's dry run) cannot be checked against the Role's rules, and
	// binding a Role whose rules it holds gives nothing it has not.
	Roles []rbacv1.Role
}

// Role returns the Role for opts, and the RoleBinding when opts names
// subjects (nil otherwise). Resources are named from kinds the way the API
// server names them for these kinds (lower-case plural).
func Role(opts Options) (*rbacv1.Role, *rbacv1.RoleBinding) {
	verbs, members := fixedVerbs(opts.Identity)
	for _, gvk := range opts.Kinds {
		if gvk.Group == "" && gvk.Kind == "Secret" {
			continue // by name only: secretRules
		}
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		gr := plural.GroupResource()
		verbs[gr] = union(verbs[gr], members)
	}
	byGroup := map[string]map[string][]string{} // group → verbs key → resources
	for gr, v := range verbs {
		key := joinVerbs(v)
		if byGroup[gr.Group] == nil {
			byGroup[gr.Group] = map[string][]string{}
		}
		byGroup[gr.Group][key] = append(byGroup[gr.Group][key], gr.Resource)
	}
	var rules []rbacv1.PolicyRule
	for _, g := range sortedKeys(byGroup) {
		for _, key := range sortedKeys(byGroup[g]) {
			res := byGroup[g][key]
			sort.Strings(res)
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: verbs[schema.GroupResource{Group: g, Resource: res[0]}]})
		}
	}
	rules = append(rules, secretRules(opts)...)
	rules = append(rules, treeRoleRules(opts.Roles)...)
	if len(opts.Roles) > 0 {
		var names []string
		for _, r := range opts.Roles {
			names = append(names, r.Name)
		}
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles"}, Verbs: []string{"bind"}, ResourceNames: slices.Compact(slices.Sorted(slices.Values(names)))})
	}
	meta := metav1.ObjectMeta{Name: opts.Name, Namespace: opts.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "modelsync"}}
	role := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: meta, Rules: rules}
	if len(opts.Subjects) == 0 {
		return role, nil
	}
	binding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta,
		Subjects:   opts.Subjects,
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: opts.Name},
	}
	return role, binding
}

// fixedVerbs are an identity's verbs on the resources every tree has, and
// its verbs on the tree's own kinds.
func fixedVerbs(id Identity) (map[schema.GroupResource][]string, []string) {
	if id == Plan {
		return map[schema.GroupResource][]string{
			{Resource: "persistentvolumeclaims"}: planClaimVerbs,
		}, planMemberVerbs
	}
	return map[schema.GroupResource][]string{
		{Resource: "secrets"}:                              {"create"},
		{Group: "coordination.k8s.io", Resource: "leases"}: leaseVerbs,
		{Resource: "persistentvolumeclaims"}:               claimVerbs,
		{Resource: "pods"}:                                 podVerbs,
	}, memberVerbs
}

// secretRules grant the Secrets by name: the inventory, and the Secrets of
// the tree (opts.Secrets), which modelsync reads by name and never lists
// (inventory.Members). No other Secret of the namespace is readable: not
// the gateway's API key a policy of the tree points at. Create cannot be
// limited to names (the API server authorizes it before the name is
// known), and reveals nothing.
func secretRules(opts Options) []rbacv1.PolicyRule {
	inv := opts.Inventory
	if inv == "" {
		inv = "modelsync"
	}
	named := parentVerbs
	if opts.Identity == Plan {
		named = planParentVerbs
	}
	var create []rbacv1.PolicyRule
	if len(opts.Secrets) > 0 {
		if opts.Identity == Plan {
			named = union(named, []string{"patch"}) // dry-run apply
			create = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}}}
		} else {
			named = union(named, []string{"delete"}) // prune
		}
	}
	names := slices.Compact(slices.Sorted(slices.Values(append([]string{inv}, opts.Secrets...))))
	return append(create, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: named, ResourceNames: names})
}

// treeRoleRules are the rules of the tree's Roles, each once, in the order
// the tree gives them.
func treeRoleRules(roles []rbacv1.Role) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range roles {
		for _, rule := range r.Rules {
			if !slices.ContainsFunc(out, func(o rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(o, rule) }) {
				out = append(out, rule)
			}
		}
	}
	return out
}

// RoleName is the Role's name when none is given: modelsync, or
// modelsync-plan for the plan identity.
func (id Identity) RoleName() string {
	if id == Plan {
		return "modelsync-plan"
	}
	return "modelsync"
}

// union keeps the order of modelsync's verb lists.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func joinVerbs(v []string) string {
	s := slices.Clone(v)
	sort.Strings(s)
	key := ""
	for _, x := range s {
		key += x + ","
	}
	return key
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
