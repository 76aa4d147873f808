package main

import (
	"fmt"
	"io"
	gosync "sync"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/sync"
)

type syncOptions struct {
	diff  diffOptions
	adopt bool
}

func newSyncCommand() *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Server-side apply additions and changes in dependency order; never deletes",
		Long: "sync applies what diff shows as create/update, in dependency order (Services before workloads,\n" +
			"backends before routes). Removed objects and removed rules/targetRefs stay in place and are\n" +
			"listed as pending: `modelsync prune` deletes them after approval.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clients, ns, err := o.diff.cluster.connect(o.diff.source.namespace)
			if err != nil {
				return err
			}
			set, err := o.diff.source.load(cmd.Context(), ns)
			if err != nil {
				return err
			}
			if set.HasErrors() {
				printDiagnostics(cmd.ErrOrStderr(), set.Diagnostics)
				return fmt.Errorf("the tree has errors; nothing was applied")
			}
			dopts := diff.DefaultOptions()
			dopts.Inventory = o.diff.cluster.inventory
			d := diff.New(clients, ns, dopts)
			res, err := d.Plan(cmd.Context(), set)
			if err != nil {
				return err
			}
			sopts := sync.DefaultOptions()
			sopts.Adopt = o.adopt
			out := cmd.OutOrStdout()
			rep, err := sync.Apply(cmd.Context(), clients, d.Inventory(), res, set.Revision, sopts, &lineProgress{w: out})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "synced namespace %s: %d applied, %d unchanged\n", ns, len(rep.Applied), rep.Unchanged)
			if pending := res.Plan.Removals(); len(pending) > 0 {
				fmt.Fprintf(out, "%d removal(s) pending approval (modelsync diff lists them; modelsync prune deletes them):\n", len(pending))
				for _, c := range pending {
					fmt.Fprintf(out, "  %s %s %s\n", c.Action, c.Kind, c.Name)
				}
			}
			return nil
		},
	}
	o.diff.source.register(cmd.Flags())
	o.diff.cluster.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.adopt, "adopt", false, "take over objects that exist without modelsync's label")
	return cmd
}

// lineProgress prints one line per applied object; stable for CI logs.
type lineProgress struct {
	mu gosync.Mutex
	w  io.Writer
}

func (p *lineProgress) Applied(a sync.Applied) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.Err != nil {
		fmt.Fprintf(p.w, "failed     %s %s: %v\n", a.Change.Kind, a.Change.Name, a.Err)
		return
	}
	fmt.Fprintf(p.w, "%-10s %s %s\n", a.Change.Action, a.Change.Kind, a.Change.Name)
}
