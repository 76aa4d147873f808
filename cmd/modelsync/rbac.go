package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/rbac"
)

type rbacOptions struct {
	source          sourceFlags
	name            string
	users, groups   []string
	serviceAccounts []string
	extraKinds      []string
}

func newRBACCommand() *cobra.Command {
	o := &rbacOptions{name: "modelsync"}
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Print the Role (and RoleBinding) that diff, sync and prune need for the tree's kinds; offline",
		Long: "rbac prints the namespaced Role an identity needs to run diff, sync and prune of the tree: the\n" +
			"verbs modelsync sends on the tree's kinds (get, list, create, patch, delete), on the inventory\n" +
			"Secret (get, create, patch), on the target's Lease (get, create, update), on the claims of\n" +
			"pruned StatefulSets (list, delete) and on pods (list: why a workload cannot be scheduled). With --user, --group or --service-account it adds the\n" +
			"RoleBinding. Kinds that left the tree but still have members must be named with --kind so that\n" +
			"prune can delete them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := o.source.loadValid(cmd.Context(), o.source.namespace, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			opts := rbac.Options{Namespace: o.source.namespace, Name: o.name}
			if opts.Namespace == "" && len(set.Objects) > 0 {
				opts.Namespace = set.Objects[0].GetNamespace()
			}
			for _, obj := range set.Objects {
				opts.Kinds = append(opts.Kinds, obj.GroupVersionKind())
			}
			for _, k := range o.extraKinds {
				kind, group, _ := strings.Cut(k, ".")
				opts.Kinds = append(opts.Kinds, schema.GroupVersionKind{Group: group, Kind: kind})
			}
			if opts.Subjects, err = o.subjects(opts.Namespace); err != nil {
				return err
			}
			role, binding := rbac.Role(opts)
			out := []any{role}
			if binding != nil {
				out = append(out, binding)
			}
			for i, obj := range out {
				b, err := yaml.Marshal(obj)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "---")
				}
				fmt.Fprint(cmd.OutOrStdout(), strings.Replace(string(b), "  creationTimestamp: null\n", "", 1))
			}
			return nil
		},
	}
	o.source.register(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&o.name, "name", o.name, "name of the Role and RoleBinding")
	f.StringSliceVar(&o.users, "user", nil, "bind the Role to this user (a client certificate's CN, a token's user)")
	f.StringSliceVar(&o.groups, "group", nil, "bind the Role to this group")
	f.StringSliceVar(&o.serviceAccounts, "service-account", nil, "bind the Role to this ServiceAccount (namespace/name)")
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
