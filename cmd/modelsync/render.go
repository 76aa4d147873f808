package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
)

type renderOptions struct {
	source      sourceFlags
	output      string
	showSecrets bool
	inventory   string
}

func newRenderCommand() *cobra.Command {
	o := &renderOptions{output: "yaml"}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the full desired set (Models expanded), sorted; offline",
		Long: "render prints the objects sync would apply, each labeled as a member of the target's inventory\n" +
			"(applyset.kubernetes.io/part-of), so that output applied by hand with the same field manager keeps them\n" +
			"in the set. sync also keeps the live rules and targetRefs that await an approved prune; render, offline,\n" +
			"cannot: use sync to apply.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "yaml or json")
	cmd.Flags().BoolVar(&o.showSecrets, "show-secrets", false, "print Secret values instead of ***")
	cmd.Flags().StringVar(&o.inventory, "inventory", inventory.DefaultName, "the inventory (ApplySet parent Secret) whose members the objects are labeled as")
	return cmd
}

// labeled returns copies of objs labeled as members of the set id, as sync
// applies them.
func labeled(objs []manifest.Object, id string) []manifest.Object {
	out := make([]manifest.Object, len(objs))
	for i, o := range objs {
		out[i] = o
		out[i].Unstructured = o.DeepCopy()
		labels := out[i].GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[inventory.LabelPartOf] = id
		out[i].SetLabels(labels)
	}
	return out
}

// maskSecretValues replaces every Secret value by "***", on copies, and
// counts the Secrets.
func maskSecretValues(objs []manifest.Object) ([]manifest.Object, int) {
	out := make([]manifest.Object, len(objs))
	masked := 0
	for i, o := range objs {
		out[i] = o
		if !diff.IsSecret(o.Unstructured) {
			continue
		}
		masked++
		out[i].Unstructured = o.DeepCopy()
		for _, field := range []string{"data", "stringData"} {
			if values, ok := out[i].Object[field].(map[string]any); ok {
				for k := range values {
					values[k] = "***"
				}
			}
		}
	}
	return out, masked
}

// writeObjects prints objects as a YAML stream, each with its origin, or as a JSON List.
func writeObjects(w io.Writer, objs []manifest.Object, format string) error {
	if format == "json" {
		items := make([]any, len(objs))
		for i, o := range objs {
			items[i] = o.Object
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	for i, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", o.ID(), err)
		}
		sep := "---\n"
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s# Source: %s\n%s", sep, o.Origin, b); err != nil {
			return err
		}
	}
	return nil
}

func (o *renderOptions) Validate() error {
	return oneOf("-o", o.output, "yaml", "json")
}

func (o *renderOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	set, ns, err := o.source.loadOffline(ctx, errOut)
	if err != nil {
		return err
	}
	objs := labeled(set.Objects, inventory.ID(o.inventory, ns))
	if !o.showSecrets {
		var masked int
		objs, masked = maskSecretValues(objs)
		if masked > 0 {
			fmt.Fprintf(errOut, "render: the values of %d Secret(s) are shown as ***: this output is for reading, not for applying (sync applies the tree)\n", masked)
		}
	}
	return writeObjects(out, objs, o.output)
}
