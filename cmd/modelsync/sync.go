package main

import (
	"context"
	"fmt"
	"io"
	gosync "sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

type syncOptions struct {
	diff  diffOptions
	lock  lockFlags
	adopt bool
	wait  bool
	sync.WaitOptions
}

func newSyncCommand() *cobra.Command {
	o := &syncOptions{WaitOptions: sync.DefaultWaitOptions()}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Server-side apply additions and changes in dependency order; never deletes",
		Long: "sync applies what diff shows as create/update, in dependency order (Services before workloads,\n" +
			"backends before routes), holding the target's Lease. Removed objects and removed rules/targetRefs\n" +
			"stay in place and are listed as pending: `modelsync prune` deletes them after approval.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clients, ns, err := o.diff.cluster.connect(o.diff.source.namespace)
			if err != nil {
				return err
			}
			return o.lock.run(cmd.Context(), clients, ns, o.diff.cluster.inventory, func(ctx context.Context) error {
				return o.run(ctx, clients, ns, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	o.diff.source.register(cmd.Flags())
	o.diff.cluster.register(cmd.Flags())
	o.diff.registerFull(cmd.Flags())
	o.lock.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.adopt, "adopt", false, "take over objects that exist without modelsync's label, and kubectl's field managers on them")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until StatefulSets have rolled out and custom resources are Accepted/Ready")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "how long --wait waits")
	return cmd
}

func (o *syncOptions) run(ctx context.Context, clients *cluster.Clients, ns string, out, stderr io.Writer) error {
	p, err := o.diff.compute(ctx, clients, ns, stderr)
	if err != nil {
		return err
	}
	sopts := sync.DefaultOptions()
	sopts.Adopt = o.adopt
	progress := &lineProgress{w: out}
	rep, err := sync.Apply(ctx, clients, p.differ.Inventory(), p.res, p.set.Revision, sopts, progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "synced namespace %s: %d applied, %d unchanged\n", ns, len(rep.Applied), rep.Unchanged)
	if pending := p.res.Plan.Removals(); len(pending) > 0 {
		fmt.Fprintf(out, "%d removal(s) pending approval (modelsync diff lists them; modelsync prune deletes them):\n", len(pending))
		for _, c := range pending {
			fmt.Fprintf(out, "  %s\n", changeLine(c))
		}
	}
	if !o.wait {
		return nil
	}
	fmt.Fprintf(out, "waiting up to %s for %d object(s) to be healthy\n", o.Timeout, len(p.set.Objects))
	objs := make([]*unstructured.Unstructured, len(p.set.Objects))
	for i, obj := range p.set.Objects {
		objs[i] = obj.Unstructured
	}
	if err := sync.Wait(ctx, clients, objs, o.WaitOptions, progress); err != nil {
		return err
	}
	fmt.Fprintln(out, "all healthy")
	return nil
}

// lockFlags configure the Lease a sync or prune holds.
type lockFlags struct{ sync.LeaseOptions }

func (f *lockFlags) register(fs *pflag.FlagSet) {
	f.LeaseOptions = sync.DefaultLeaseOptions()
	fs.DurationVar(&f.Wait, "lock-timeout", f.Wait, "how long to wait for another sync or prune of the same target to finish")
}

func (f *lockFlags) run(ctx context.Context, clients *cluster.Clients, ns, inv string, fn func(context.Context) error) error {
	target := inventory.New(clients.Dynamic, clients.Core, clients.Mapper, ns, inv)
	return sync.WithLease(ctx, clients, target, f.LeaseOptions, fn)
}

// lineProgress prints one line per object; stable for CI logs.
type lineProgress struct {
	mu gosync.Mutex
	w  io.Writer
}

// changeLine is "action Kind name [noun key]".
func changeLine(c diff.Change) string {
	s := string(c.Action) + " " + c.Kind + " " + c.Name
	if c.Item != nil {
		s += " " + c.Item.Noun + " " + c.Item.Key
	}
	return s
}

func (p *lineProgress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *lineProgress) Applied(a sync.Applied) {
	if a.Err != nil {
		p.printf("failed     %s %s: %v\n", a.Change.Kind, a.Change.Name, a.Err)
		return
	}
	p.printf("%-10s %s %s\n", a.Change.Action, a.Change.Kind, a.Change.Name)
}

func (p *lineProgress) Health(h sync.Health) {
	state := "waiting"
	if h.Ready {
		state = "healthy"
	}
	p.printf("%-10s %s: %s\n", state, h.ID, h.Message)
}

func (p *lineProgress) Pruned(r sync.Pruned) {
	switch {
	case r.Err != nil:
		p.printf("failed     %s: %v\n", changeLine(r.Change), r.Err)
	case len(r.Finalizers) > 0:
		p.printf("stuck      %s: terminating, held by finalizers %v\n", changeLine(r.Change), r.Finalizers)
	case r.Change.Message != "":
		p.printf("%-10s %s %s: %s\n", r.Change.Action, r.Change.Kind, r.Change.Name, r.Change.Message)
	default:
		p.printf("%-10s %s %s\n", "deleted", r.Change.Kind, r.Change.Name)
	}
}
