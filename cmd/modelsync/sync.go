package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

type syncOptions struct {
	source     sourceFlags
	cluster    clusterFlags
	plan       planFlags
	lock       lockFlags
	adopt      bool
	allowEmpty bool
	takeOver   bool
	rollback   bool
	// retryFailed plans again an update whose revision failed to start.
	retryFailed bool
	wait        bool
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
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	o.cluster.register(cmd.Flags())
	o.plan.register(cmd.Flags())
	o.lock.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.allowEmpty, "allow-empty", false, "sync a tree that holds no objects (every member then awaits pruning)")
	cmd.Flags().BoolVar(&o.rollback, "allow-rollback", false, "sync a revision that does not descend from the one the namespace was synced at (an older commit: GitLab's Retry of an old job or an environment's Rollback); every approval of an earlier plan then goes stale")
	cmd.Flags().BoolVar(&o.takeOver, "take-over-namespace", false, "sync a namespace whose inventory records another tree (repository and path), and record this one: the other tree's models then plan as removed")
	cmd.Flags().BoolVar(&o.retryFailed, "retry-failed", false, "try again an update whose new revision already failed to start (without it, such a model is held at its old revision until its Model changes)")
	cmd.Flags().BoolVar(&o.adopt, "adopt", false, "take over objects that exist without modelsync's label, and kubectl's field managers on them")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until StatefulSets have rolled out and custom resources are Accepted/Ready")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "how long --wait waits (default: the slowest workload's startup probes plus 10m, at least 15m)")
	return cmd
}

func (o *syncOptions) Validate() error {
	if o.Timeout < 0 || o.Timeout > 48*time.Hour {
		return fmt.Errorf("--timeout %s: out of range [0s (derived), 48h]", o.Timeout)
	}
	return o.lock.validate()
}

func (o *syncOptions) Run(ctx context.Context, out, stderr io.Writer) error {
	t, err := connectTarget(ctx, &o.source, &o.cluster)
	if err != nil {
		return err
	}
	t.takeOver = o.takeOver
	return o.lock.run(ctx, t, stderr, func(ctx context.Context, fence sync.Fence) error {
		return o.apply(ctx, t, fence, out, stderr)
	})
}

func (o *syncOptions) apply(ctx context.Context, t *target, fence sync.Fence, out, stderr io.Writer) error {
	ns := t.ns
	opts := o.plan.options()
	opts.OmitCreateDiffs = true // sync shows no create's YAML
	opts.RetryFailed = o.retryFailed
	p, err := t.plan(ctx, opts, stderr)
	if err != nil {
		return err
	}
	sopts := sync.DefaultOptions()
	sopts.Adopt, sopts.AllowEmpty, sopts.Fence = o.adopt, o.allowEmpty, fence
	sopts.Tree, sopts.TakeOver = t.source.tree.ID, o.takeOver
	sopts.AllowRollback = o.rollback
	sopts.History = func(ancestor, revision string) (bool, bool) {
		return manifest.Descends(o.source.path, ancestor, revision)
	}
	progress := newLineProgress(out)
	rep, err := p.manager.Apply(ctx, p.res, p.set.Revision, sopts, progress)
	if err != nil {
		return err
	}
	for _, c := range rep.Copies {
		fmt.Fprintf(out, "surge copy %s\n", c)
	}
	for _, m := range rep.Moved {
		fmt.Fprintf(out, "moved      %s\n", m)
	}
	fmt.Fprintf(out, "synced namespace %s: %d applied, %d unchanged\n", ns, len(rep.Applied), rep.Unchanged)
	for _, c := range p.res.Plan.Changes {
		switch c.Action {
		case diff.Terminating:
			fmt.Fprintf(out, "not written: %s %s is %s\n", c.Kind, c.Name, c.Message)
		case diff.Replace, diff.Recreate, diff.Held:
			fmt.Fprintf(out, "not written: %s %s %s\n", c.Kind, c.Name, c.Message)
		}
	}
	if pending := p.res.Plan.Removals(); len(pending) > 0 {
		fmt.Fprintf(out, "%d removal(s) pending approval (modelsync diff lists them; modelsync prune deletes them):\n", len(pending))
		for _, c := range pending {
			fmt.Fprintf(out, "  %s\n", c.Line())
		}
	}
	if !o.wait {
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(p.set.Objects))
	for i, obj := range p.set.Objects {
		objs[i] = obj.Unstructured
	}
	wopts := o.WaitOptions
	budget := workload.Budget{Timeout: wopts.Timeout}
	if wopts.Timeout == 0 {
		budget = workload.RolloutBudget(objs, sync.DefaultWaitOptions().Timeout)
		wopts.Timeout = budget.Timeout
	}
	fmt.Fprintf(out, "waiting up to %s for %d object(s) to be healthy\n", budget, len(p.set.Objects))
	if err := p.manager.Wait(ctx, objs, wopts, progress); err != nil {
		return err
	}
	fmt.Fprintln(out, "all healthy")
	// The rollout's status writes moved the resourceVersions the record
	// stamped: record them again, so that plans until the next sync need
	// not read those objects whole. A failure only costs later plans time.
	if err := p.manager.Restamp(ctx, p.set, opts, fence); err != nil {
		fmt.Fprintf(stderr, "note: the record was not refreshed after the wait (later plans read the objects whose status changed whole): %v\n", err)
	}
	return nil
}

// lockFlags configure the Lease a sync or prune holds.
type lockFlags struct {
	sync.LeaseOptions
	// requireFence refuses to write when the fence policy does not guard
	// the target; without it, the run warns and goes on.
	requireFence bool
}

func (f *lockFlags) register(fs *pflag.FlagSet) {
	f.LeaseOptions = sync.DefaultLeaseOptions()
	f.Identity = runIdentity()
	fs.DurationVar(&f.Wait, "lock-timeout", f.Wait, "how long to wait for another sync or prune of the same target to finish")
	fs.DurationVar(&f.Duration, "lease-duration", f.Duration, "how long the target's Lease outlives a run that stopped renewing it (killed, paused)")
	fs.BoolVar(&f.requireFence, "require-fence", false, "refuse to write unless the fence policy (modelsync rbac) guards the target; without it a run says so and goes on")
}

// runIdentity names this run in the Lease: the CI job's URL, else host:pid.
func runIdentity() string {
	if u := os.Getenv("CI_JOB_URL"); u != "" {
		return u
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

func (f *lockFlags) validate() error {
	if f.Wait < 0 || f.Duration <= 0 {
		return fmt.Errorf("--lock-timeout %s, --lease-duration %s: give a wait of zero or more and a positive duration", f.Wait, f.Duration)
	}
	if f.Wait > 24*time.Hour || f.Duration < time.Second || f.Duration > 24*time.Hour {
		return fmt.Errorf("--lock-timeout %s, --lease-duration %s: out of range: a wait of at most 24h, a duration of 1s to 24h (the Lease counts whole seconds)", f.Wait, f.Duration)
	}
	return nil
}

// run holds the target's Lease while fn runs; fn confirms it before each
// write batch through fence.
func (f *lockFlags) run(ctx context.Context, t *target, stderr io.Writer, fn func(context.Context, sync.Fence) error) error {
	m := t.manager()
	return m.WithLease(ctx, f.LeaseOptions, leaseWait{stderr}, func(ctx context.Context, l *sync.Lease) error {
		on, err := m.FenceInForce(ctx)
		switch {
		case err != nil:
			return err
		case !on && f.requireFence:
			return fmt.Errorf("%w, nothing was written (--require-fence): %s", sync.ErrFenceOff, sync.FenceOffWarning(t.ns))
		case !on:
			fmt.Fprintf(stderr, "warning: %s\n", sync.FenceOffWarning(t.ns))
		}
		return fn(ctx, l)
	})
}

// leaseWait says who holds the Lease this run waits for.
type leaseWait struct{ w io.Writer }

func (l leaseWait) Waiting(holder string, expires time.Time) {
	fmt.Fprintf(l.w, "waiting for the Lease: held by %s, until %s unless renewed\n", holder, expires.UTC().Format(time.RFC3339))
}

// lineProgress prints one line per object, stable for CI logs. On a
// terminal it colours the actions, and while --wait waits it keeps one live
// line saying what is still awaited instead of a line per status change.
type lineProgress struct {
	mu gosync.Mutex
	w  io.Writer
	d  display
	// waiting is, on a terminal, each object still awaited and why.
	waiting map[manifest.ID]string
	// shown: the live line is on the screen, to be cleared before a line.
	shown bool
}

func newLineProgress(w io.Writer) *lineProgress {
	return &lineProgress{w: w, d: displayFor(w), waiting: map[manifest.ID]string{}}
}

// printf prints a line (action in colour c), clearing the live line first
// and drawing it again after.
func (p *lineProgress) printf(c, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprint(p.w, p.d.paint(c, fmt.Sprintf(format, args...)))
	p.draw()
}

func (p *lineProgress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// draw writes the live line: how many objects are awaited, and the first
// of them with its reason.
func (p *lineProgress) draw() {
	if !p.d.live || len(p.waiting) == 0 {
		return
	}
	first := slices.MinFunc(slices.Collect(maps.Keys(p.waiting)), func(a, b manifest.ID) int { return strings.Compare(a.String(), b.String()) })
	line := fmt.Sprintf("waiting for %d object(s): %s: %s", len(p.waiting), first, p.waiting[first])
	if f, ok := p.w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 1 && len(line) >= width {
			line = line[:width-1]
		}
	}
	fmt.Fprint(p.w, line)
	p.shown = true
}

func (p *lineProgress) Applied(a sync.Applied) {
	if a.Err != nil {
		p.printf(red, "failed     %s %s: %v\n", a.Change.Kind, a.Change.Name, a.Err)
		return
	}
	p.printf(actionColor(a.Change.Action), "%-10s %s %s\n", a.Change.Action, a.Change.Kind, a.Change.Name)
}

func (p *lineProgress) Health(h sync.Health) {
	if p.d.live && !h.Ready && !h.Unschedulable && !h.Failing {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.waiting[h.ID] = h.Message
		p.clear()
		p.draw()
		return
	}
	p.mu.Lock()
	delete(p.waiting, h.ID)
	p.mu.Unlock()
	state, c := "waiting", yellow
	switch {
	case h.Ready:
		state, c = "healthy", green
	case h.Failing:
		state, c = "failing", red
	}
	p.printf(c, "%-10s %s: %s\n", state, h.ID, h.Message)
}

// actionColor is how an action reads on a terminal.
func actionColor(a diff.Action) string {
	switch a {
	case diff.Create:
		return green
	case diff.Prune, diff.PruneItem, diff.Replace, diff.Recreate:
		return red
	}
	return yellow
}

func (p *lineProgress) Pruned(r sync.Pruned) {
	switch r.State {
	case sync.Failed:
		p.printf(red, "failed     %s: %v\n", r.Change.Line(), r.Err)
	case sync.NotAttempted:
		p.printf(yellow, "held back  %s: not attempted, %s\n", r.Change.Line(), r.Reason)
	case sync.StillTerminating:
		p.printf(yellow, "stuck      %s: terminating, held by finalizers %v\n", r.Change.Line(), r.Finalizers)
	case sync.AlreadyGone:
		p.printf("", "%-10s %s %s: already done (an earlier prune, or by hand)\n", "done", r.Change.Kind, r.Change.Name)
	case sync.Replaced:
		if r.Change.Action == diff.Recreate {
			p.printf(green, "%-10s %s %s: restarted in place and ready\n", "recreated", r.Change.Kind, r.Change.Name)
			break
		}
		p.printf(green, "%-10s %s %s: deleted, created again and ready\n", "replaced", r.Change.Kind, r.Change.Name)
		for _, n := range r.Notes {
			p.printf("", "           %s\n", n)
		}
	default:
		if r.Change.Action == diff.PruneItem {
			p.printf(red, "%-10s %s %s: %s\n", r.Change.Action, r.Change.Kind, r.Change.Name, r.Change.Message)
		} else {
			p.printf(red, "%-10s %s %s\n", "deleted", r.Change.Kind, r.Change.Name)
		}
	}
}
