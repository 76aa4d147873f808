package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

type statusOptions struct {
	cluster   clusterFlags
	namespace string
}

func newStatusCommand() *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the inventory, the revision it was synced at, and the health of each member",
		Long: "status lists the inventory's members with their health: healthy, waiting (a rollout or a controller\n" +
			"still to act), unschedulable (the scheduler's reason), not accepted / not ready (a controller's verdict\n" +
			"with its reason), terminating. Exit 0 when every member is healthy, 1 when any is not, 2 on errors.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.cluster.register(cmd.Flags())
	namespaceFlag(cmd.Flags(), &o.namespace)
	return cmd
}

func (o *statusOptions) Validate() error { return nil }

func (o *statusOptions) Run(ctx context.Context, out, _ io.Writer) error {
	clients, ns, err := o.cluster.connect(o.namespace)
	if err != nil {
		return err
	}
	m := sync.NewManager(clients, ns, o.cluster.inventory)
	report, err := m.Status(ctx)
	if err != nil {
		return err
	}
	if err := printStatus(out, m.Inventory(), report); err != nil {
		return err
	}
	if report.Unhealthy() > 0 {
		return exitCode(exitChanges) // something is not healthy: scripts and jobs see it
	}
	return nil
}

// printStatus writes the report as a table.
func printStatus(out io.Writer, inv *inventory.Inventory, r sync.StatusReport) error {
	p := r.Parent
	if !p.Exists {
		_, err := fmt.Fprintf(out, "no inventory %s: nothing was synced to namespace %s yet\n", inv, inv.Namespace)
		return err
	}
	revision := cmp.Or(p.Revision, "(not recorded)")
	fmt.Fprintf(out, "inventory: %s (%s)\nrevision:  %s, synced at %s\nmembers:   %d\n", inv, inv.ID(), revision, p.SyncedAt, len(r.Members))
	fmt.Fprintf(out, "recorded:  %d, which diff takes as unchanged while they stay as the last sync left them (diff --full dry-runs all)\n\n", len(p.Verified))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tHEALTH\tMESSAGE")
	for _, m := range r.Members {
		msg := m.Message
		if m.Health == "terminating" {
			msg = fmt.Sprintf("finalizers %v", m.Finalizers)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID.Kind, m.ID.Name, m.Health, msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "\n%d of %d healthy\n", len(r.Members)-r.Unhealthy(), len(r.Members))
	return err
}
