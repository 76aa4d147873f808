package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/rbac"
)

type rbacOptions struct {
	source          sourceFlags
	name            string
	users, groups   []string
	serviceAccounts []string
	extraKinds      []string
	identity        string
	inventory       string
	secrets         []string
	capacity        string
	publisher       bool
}

func newRBACCommand() *cobra.Command {
	o := &rbacOptions{identity: string(rbac.Apply)}
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Print the Role (and RoleBinding) that diff, sync and prune need for the tree's kinds; offline",
		Long: "rbac prints the namespaced Role an identity needs to run diff, sync and prune of the tree: the\n" +
			"verbs modelsync sends on the tree's kinds (get, list, create, patch, delete), on the inventory\n" +
			"Secret (get and patch by its name, create), on the target's Lease (get, create, update), on the claims of\n" +
			"pruned StatefulSets (list, delete) and on pods (list: why a workload cannot be scheduled). With --user, --group or --service-account it adds the\n" +
			"RoleBinding. Kinds that left the tree but still have members must be named with --kind so that\n" +
			"prune can delete them.\n\n" +
			"--identity plan prints what the merge request pipeline's identity needs instead: the Role to\n" +
			"dry-run (get, list, create, patch on the tree's kinds; get the inventory; list claims), its\n" +
			"RoleBinding, and a ValidatingAdmissionPolicy with its binding that refuses that identity every\n" +
			"write that is not a dry run (a dry-run apply needs the same RBAC verbs as an apply).\n\n" +
			"For the apply identity it also prints the fence: a ValidatingAdmissionPolicy (one per cluster)\n" +
			"and its binding for the target, with the target's Lease as parameter, that refuses a write or\n" +
			"delete of a run that lost the Lease to another run (paused past its term and resumed). The\n" +
			"policy and the bindings are cluster-scoped: a cluster administrator applies them.\n\n" +
			"--capacity NAMESPACE/NAME adds a Role (and binding) to read, by its name alone, the capacity\n" +
			"snapshot ConfigMap that `modelsync capacity publish` keeps (diff --capacity-from NAMESPACE/NAME):\n" +
			"with it the plan places new and changed models on the cluster as it is now, without any right to\n" +
			"read a pod. --capacity-publisher prints instead what the publisher needs: a ClusterRole to list\n" +
			"nodes and pods and a Role to write that ConfigMap, bound to the subjects given.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&o.identity, "identity", o.identity, "apply (sync and prune) or plan (merge request diffs: dry runs only)")
	f.StringVar(&o.name, "name", "", "name of the Role and RoleBinding (default modelsync, or modelsync-plan for --identity plan)")
	f.StringSliceVar(&o.users, "user", nil, "bind the Role to this user (a client certificate's CN, a token's user)")
	f.StringSliceVar(&o.groups, "group", nil, "bind the Role to this group")
	f.StringSliceVar(&o.serviceAccounts, "service-account", nil, "bind the Role to this ServiceAccount (namespace/name)")
	f.StringVar(&o.inventory, "inventory", inventory.DefaultName, "the inventory Secret: with the tree's own Secrets, the only Secrets the Role lets the identity read, by name")
	f.StringSliceVar(&o.secrets, "secret", nil, "also a Secret that is no longer in the tree but still has to be pruned (by name)")
	f.StringVar(&o.capacity, "capacity", "", "NAMESPACE/NAME: also print the Role (and binding) to read the capacity snapshot ConfigMap, with which the plan checks that new models fit the cluster now")
	f.BoolVar(&o.publisher, "capacity-publisher", false, "print only what `modelsync capacity publish` needs (list nodes and pods, write the --capacity ConfigMap), for the subjects given")
	f.StringSliceVar(&o.extraKinds, "kind", nil, "also a kind that is no longer in the tree, as Kind.group (Backend.gateway.envoyproxy.io)")
	return cmd
}

func (o *rbacOptions) subjects(namespace string) ([]rbacv1.Subject, error) {
	var out []rbacv1.Subject
	for _, u := range o.users {
		out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	for _, g := range o.groups {
		out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	for _, sa := range o.serviceAccounts {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--service-account %q: write namespace/name", sa)
		}
		out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name})
	}
	return out, nil
}

func (o *rbacOptions) Validate() error {
	if id := rbac.Identity(o.identity); id != rbac.Apply && id != rbac.Plan {
		return fmt.Errorf("--identity %s: use apply or plan", o.identity)
	}
	if ns, name, ok := strings.Cut(o.capacity, "/"); o.capacity != "" && (!ok || ns == "" || name == "") {
		return fmt.Errorf("--capacity %s: write NAMESPACE/NAME of the capacity snapshot ConfigMap", o.capacity)
	}
	if o.publisher && o.capacity == "" {
		return fmt.Errorf("--capacity-publisher needs --capacity NAMESPACE/NAME: the ConfigMap it writes")
	}
	return nil
}

func (o *rbacOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	if o.publisher {
		return o.printPublisher(out)
	}
	identity := rbac.Identity(o.identity)
	set, ns, err := o.source.loadOffline(ctx, errOut)
	if err != nil {
		return err
	}
	opts := rbac.Options{Namespace: ns, Name: o.name, Identity: identity, Inventory: o.inventory}
	if opts.Name == "" {
		opts.Name = identity.RoleName()
	}
	if opts.Namespace == "" && len(set.Objects) > 0 {
		opts.Namespace = set.Objects[0].GetNamespace()
	}
	opts.Secrets = o.secrets
	for _, obj := range set.Objects {
		if obj.GetKind() == "Role" && obj.GroupVersionKind().Group == rbacv1.GroupName {
			var role rbacv1.Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
				return fmt.Errorf("%s: Role %s: %w", obj.Origin, obj.GetName(), err)
			}
			opts.Roles = append(opts.Roles, role)
		}
		if gvk := obj.GroupVersionKind(); gvk.Group == "" && gvk.Kind == "Secret" {
			opts.Secrets = append(opts.Secrets, obj.GetName())
		}
		opts.Kinds = append(opts.Kinds, obj.GroupVersionKind())
	}
	for _, k := range o.extraKinds {
		kind, group, _ := strings.Cut(k, ".")
		opts.Kinds = append(opts.Kinds, schema.GroupVersionKind{Group: group, Kind: kind})
	}
	if opts.Subjects, err = o.subjects(opts.Namespace); err != nil {
		return err
	}
	if identity == rbac.Plan && len(opts.Subjects) == 0 {
		return fmt.Errorf("--identity plan needs --user, --group or --service-account: the policy that keeps the plan identity from writing matches them")
	}
	role, binding := rbac.Role(opts)
	objs := []any{role}
	if binding != nil {
		objs = append(objs, binding)
	}
	if identity == rbac.Plan {
		policy, pb := rbac.DryRunOnly(opts.Name+"-"+opts.Namespace, opts.Namespace, opts.Subjects)
		objs = append(objs, policy, pb)
	} else {
		policy, pb := rbac.Fence(opts.Namespace, opts.Inventory)
		objs = append(objs, policy, pb)
	}
	if o.capacity != "" {
		cmNS, cmName, _ := strings.Cut(o.capacity, "/")
		role, binding := rbac.CapacityReader(opts.Name+"-capacity-"+opts.Namespace, cmNS, cmName, opts.Subjects)
		objs = append(objs, role)
		if binding != nil {
			objs = append(objs, binding)
		}
	}
	return printObjects(out, objs)
}

// printPublisher prints what `modelsync capacity publish` needs.
func (o *rbacOptions) printPublisher(out io.Writer) error {
	cmNS, cmName, _ := strings.Cut(o.capacity, "/")
	subjects, err := o.subjects(cmNS)
	if err != nil {
		return err
	}
	return printObjects(out, rbac.CapacityPublisher("modelsync-capacity-publisher", cmNS, cmName, subjects))
}

// printObjects prints objects as one YAML stream.
func printObjects(out io.Writer, objs []any) error {
	for i, obj := range objs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(out, "---")
		}
		fmt.Fprint(out, strings.NewReplacer("  creationTimestamp: null\n", "", "status: {}\n", "").Replace(string(b)))
	}
	return nil
}
