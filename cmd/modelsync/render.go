package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/manifest"
)

type renderOptions struct {
	source      sourceFlags
	output      string
	showSecrets bool
}

func newRenderCommand() *cobra.Command {
	o := &renderOptions{output: "yaml"}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the full desired set (Models expanded), sorted; offline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "yaml" && o.output != "json" {
				return fmt.Errorf("-o %s: use yaml or json", o.output)
			}
			ns, err := o.source.offlineNamespace(cmd.Context())
			if err != nil {
				return err
			}
			set, err := o.source.loadValid(cmd.Context(), ns, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			objs := set.Objects
			if !o.showSecrets {
				objs = maskSecretValues(objs)
			}
			return writeObjects(cmd.OutOrStdout(), objs, o.output)
		},
	}
	o.source.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "yaml or json")
	cmd.Flags().BoolVar(&o.showSecrets, "show-secrets", false, "print Secret values instead of ***")
	return cmd
}

// maskSecretValues replaces every Secret value by "***", on copies.
func maskSecretValues(objs []manifest.Object) []manifest.Object {
	out := make([]manifest.Object, len(objs))
	for i, o := range objs {
		out[i] = o
		if !diff.IsSecret(o.Unstructured) {
			continue
		}
		out[i].Unstructured = o.DeepCopy()
		for _, field := range []string{"data", "stringData"} {
			if values, ok := out[i].Object[field].(map[string]any); ok {
				for k := range values {
					values[k] = "***"
				}
			}
		}
	}
	return out
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
