package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/sync"
)

type pruneOptions struct {
	source   sourceFlags
	cluster  clusterFlags
	lock     lockFlags
	planFile string
	sync.PruneOptions
}

func newPruneCommand() *cobra.Command {
	o := &pruneOptions{PruneOptions: sync.DefaultPruneOptions()}
	cmd := &cobra.Command{
		Use:   "prune --plan FILE",
		Short: "Delete what an approved plan removes: rules and targetRefs first, then objects in reverse order",
		Long: "prune recomputes the plan and refuses, changing nothing, unless its pending removals are those of\n" +
			"the approved plan file (written by `modelsync diff --plan-out`), each still the object (uid and content\n" +
			"without status) or entry that was approved. It then removes the rules and targetRefs from shared objects,\n" +
			"writing nothing else, and deletes objects in reverse dependency order. A removal that fails holds back\n" +
			"what it still points at (exit 3); removals already done count as done, so the same plan finishes the job.\n" +
			"PersistentVolumeClaims of pruned StatefulSets are kept unless --delete-pvcs.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	o.cluster.register(cmd.Flags())
	o.lock.register(cmd.Flags())
	cmd.Flags().StringVar(&o.planFile, "plan", "", "the approved JSON plan (modelsync diff --plan-out)")
	_ = cmd.MarkFlagRequired("plan")
	cmd.Flags().BoolVar(&o.DeleteClaims, "delete-pvcs", false, "also delete the PersistentVolumeClaims the approved plan lists for pruned StatefulSets")
	cmd.Flags().BoolVar(&o.PruneNeverApplied, "prune-unapplied", false, "also delete members that carry the set's label but that modelsync never applied")
	cmd.Flags().IntVar(&o.MaxPrunes, "max-prunes", o.MaxPrunes, "refuse to delete more objects than this without --allow-mass-prune")
	cmd.Flags().BoolVar(&o.AllowMass, "allow-mass-prune", false, "allow deleting more than --max-prunes objects, or everything when the tree is empty")
	cmd.Flags().DurationVar(&o.Terminating, "terminating-timeout", o.Terminating, "how long to wait for a deleted object to go before reporting its finalizers")
	return cmd
}

func (o *pruneOptions) Validate() error {
	if o.MaxPrunes < 0 {
		return fmt.Errorf("--max-prunes %d: give zero or more", o.MaxPrunes)
	}
	if o.Terminating < 0 || o.Terminating > time.Hour {
		return fmt.Errorf("--terminating-timeout %s: out of range [0s, 1h]", o.Terminating)
	}
	return o.lock.validate()
}

func (o *pruneOptions) Run(ctx context.Context, out, stderr io.Writer) error {
	approved, err := readPlanFile(o.planFile)
	if err != nil {
		return err
	}
	t, err := connectTarget(ctx, &o.source, &o.cluster)
	if err != nil {
		return err
	}
	return o.lock.run(ctx, t, stderr, func(ctx context.Context, fence sync.Fence) error {
		o.Fence = fence
		return o.prune(ctx, t, approved, out, stderr)
	})
}

// prune recomputes the plan (as diff makes it, minus the fields it keeps:
// every kubectl manager's) and removes what the approved plan removes.
func (o *pruneOptions) prune(ctx context.Context, t *target, approved *diff.Plan, out, stderr io.Writer) error {
	ns := t.ns
	p, err := t.plan(ctx, planFlags{}.options(), stderr)
	if err != nil {
		return err
	}
	if approved.Revision != p.res.Plan.Revision {
		fmt.Fprintf(stderr, "note: the plan was made at revision %s, the tree is at %s; its removals are the same\n", approved.Revision, p.res.Plan.Revision)
	}
	rep, err := p.manager.Prune(ctx, approved, p.res, o.PruneOptions, newLineProgress(out))
	for _, c := range rep.Claims {
		if rep.ClaimsDeleted {
			fmt.Fprintf(out, "deleted    PersistentVolumeClaim %s\n", c)
		} else {
			fmt.Fprintf(out, "kept       PersistentVolumeClaim %s (delete it by hand, or prune with --delete-pvcs)\n", c)
		}
	}
	n := rep.Count()
	if len(rep.Pruned) > 0 {
		fmt.Fprintf(out, "prune of namespace %s: %d done, %d failed, %d not attempted", ns, n[sync.Removed]+n[sync.Replaced]+n[sync.AlreadyGone], n[sync.Failed], n[sync.NotAttempted])
		if n[sync.StillTerminating] > 0 {
			fmt.Fprintf(out, ", %d still terminating (they stay in the inventory)", n[sync.StillTerminating])
		}
		fmt.Fprintln(out)
	}
	return err
}

func readPlanFile(path string) (*diff.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--plan: %w", err)
	}
	defer f.Close()
	p, err := diff.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("--plan %s: %w", path, err)
	}
	return p, nil
}
