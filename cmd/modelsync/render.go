package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/manifest"
)

type renderOptions struct {
	source sourceFlags
	output string
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
			set, err := o.source.load(cmd.Context(), o.source.namespace)
			if err != nil {
				return err
			}
			if set.HasErrors() {
				printDiagnostics(cmd.ErrOrStderr(), set.Diagnostics)
				return exitCode(exitChanges)
			}
			return writeObjects(cmd.OutOrStdout(), set.Objects, o.output)
		},
	}
	o.source.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "yaml or json")
	return cmd
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
