package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/diff"
)

type diffOptions struct {
	source  sourceFlags
	cluster clusterFlags
	output  string
	planOut string
}

func newDiffCommand() *cobra.Command {
	o := &diffOptions{output: "text"}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what a sync and an approved prune would change; exit 0 no changes, 1 changes, >1 error",
		Long: "diff dry-runs every desired object against the API server (server-side apply, dryRun=All)\n" +
			"and compares the prediction with the live objects of the inventory. It never writes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "text" && o.output != "markdown" && o.output != "json" {
				return fmt.Errorf("-o %s: use text, markdown or json", o.output)
			}
			plan, err := o.plan(cmd)
			if err != nil {
				return err
			}
			if o.planOut != "" {
				if err := writePlanFile(o.planOut, plan); err != nil {
					return err
				}
			}
			if err := writePlan(cmd.OutOrStdout(), plan, o.output); err != nil {
				return err
			}
			switch {
			case plan.HasErrors():
				return fmt.Errorf("the API server refused %d object(s); see the plan", plan.Counts()[diff.Error])
			case plan.HasChanges():
				return exitCode(exitChanges)
			}
			return nil
		},
	}
	o.source.register(cmd.Flags())
	o.cluster.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "text, markdown (a merge request note) or json (the plan the prune job reads)")
	cmd.Flags().StringVar(&o.planOut, "plan-out", "", "also write the JSON plan to this file")
	return cmd
}

// planned is a computed plan with what made it, for the commands that act on it.
type planned struct {
	clients *cluster.Clients
	set     *desired.Set
	differ  *diff.Differ
	res     *diff.Result
}

func (o *diffOptions) plan(cmd *cobra.Command) (*diff.Plan, error) {
	clients, ns, err := o.cluster.connect(o.source.namespace)
	if err != nil {
		return nil, err
	}
	p, err := o.compute(cmd.Context(), clients, ns, cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	return p.res.Plan, nil
}

// compute loads the tree and plans it against the target.
func (o *diffOptions) compute(ctx context.Context, clients *cluster.Clients, ns string, stderr io.Writer) (*planned, error) {
	set, err := o.source.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	if set.HasErrors() {
		printDiagnostics(stderr, set.Diagnostics)
		return nil, fmt.Errorf("the tree has errors; fix them (modelsync validate lists them) before a plan can be made")
	}
	opts := diff.DefaultOptions()
	opts.Inventory = o.cluster.inventory
	d := diff.New(clients, ns, opts)
	res, err := d.Plan(ctx, set)
	if err != nil {
		return nil, err
	}
	return &planned{clients: clients, set: set, differ: d, res: res}, nil
}

func writePlan(w io.Writer, p *diff.Plan, format string) error {
	switch format {
	case "json":
		return p.WriteJSON(w)
	case "markdown":
		return p.WriteMarkdown(w, diff.MarkdownOptions{})
	}
	return p.WriteText(w)
}

func writePlanFile(path string, p *diff.Plan) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--plan-out: %w", err)
	}
	if err := p.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("--plan-out %s: %w", path, err)
	}
	return f.Close()
}
