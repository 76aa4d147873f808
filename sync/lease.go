package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"

	"modelsync.dev/modelsync/inventory"
)

// LeaseOptions configures WithLease.
type LeaseOptions struct {
	// Identity names this run in the Lease, so a waiting run can say who
	// holds it (the CI job URL, or host:pid).
	Identity string
	// Wait is how long to wait for another run to finish.
	Wait time.Duration
	// Duration is how long a holder that stopped renewing keeps the Lease.
	Duration time.Duration
}

// DefaultLeaseOptions returns the defaults; Identity must be set by the caller.
func DefaultLeaseOptions() LeaseOptions {
	return LeaseOptions{Wait: 5 * time.Minute, Duration: 30 * time.Second}
}

// Typed Lease outcomes.
var (
	// ErrLeaseHeld: another run kept the Lease past the wait.
	ErrLeaseHeld = errors.New("another modelsync run holds the lease")
	// ErrLeaseLost: this run no longer holds the Lease (it was paused or cut
	// off past the Lease's duration and another run took it, or released
	// it); it must not write.
	ErrLeaseLost = errors.New("this run lost the lease")
	// ErrStaleFence: the fence policy refused a write of a run that still
	// held its Lease; the API server checked it against an old copy of the
	// Lease.
	ErrStaleFence = errors.New("the API server's fence policy reads an old copy of the Lease")
)

// LeaseProgress hears about the wait for a Lease another run holds.
type LeaseProgress interface {
	// Waiting is called when the holder (or its renewal) changes.
	Waiting(holder string, expires time.Time)
}

func (NoProgress) Waiting(string, time.Time) {}

// LeaseName is the Lease guarding inv's target.
func LeaseName(inv *inventory.Inventory) string { return inventory.LeaseName(inv.Name) }

// Fence is confirmed before every write batch and held before every single
// write: a run that cannot confirm it stops without writing.
type Fence interface {
	// Confirm renews the fence; it fails when another run took it.
	Confirm(ctx context.Context) error
	// Hold is cheap: it confirms only when the last confirmation is old
	// enough that the run may have been paused past its term since.
	Hold(ctx context.Context) error
	// Token is the fence token the next write carries
	// (inventory.AnnotationFence): new for every write, and refused by the
	// API server's fence policy (rbac.Fence) once another run took the
	// Lease. Empty when the run holds no Lease.
	Token() string
}

// Unfenced is the Fence of a run that holds no Lease (tests, one-off use).
type Unfenced struct{}

func (Unfenced) Confirm(context.Context) error { return nil }
func (Unfenced) Hold(context.Context) error    { return nil }
func (Unfenced) Token() string                 { return "" }

// Lease is a held coordination.k8s.io Lease. Each Confirm renews it with
// the resourceVersion of the Lease as this run last wrote it: if any other
// run wrote the Lease since (took it over, or released it after this run's
// term ran out), the renewal is refused and the run has lost it.
type Lease struct {
	client   coordclient.LeaseInterface
	name     string
	opts     LeaseOptions
	mu       gosync.Mutex
	mine     *coordinationv1.Lease // as this run last wrote it
	held     time.Time             // when the request that last wrote it was sent (monotonic)
	lostWith error
	fence    string       // FenceOf the Lease as this run acquired it
	writes   atomic.Int64 // fence tokens handed out
}

func (l *Lease) String() string { return "Lease " + l.mine.Namespace + "/" + l.name }

// WithLease runs fn while holding the Lease of the target. It waits up to
// opts.Wait for another holder, reporting who holds it and until when; any
// other error (no permission, no such namespace) fails at once. The Lease is
// renewed in the background; fn must Confirm it before each write batch, and
// its context is cancelled when a renewal finds the Lease lost.
func (m *Manager) WithLease(ctx context.Context, opts LeaseOptions, progress LeaseProgress, fn func(context.Context, *Lease) error) error {
	l := &Lease{client: m.clients.Core.CoordinationV1().Leases(m.inv.Namespace), name: LeaseName(m.inv), opts: opts}
	if err := l.acquire(ctx, m.inv.Namespace, progress); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		l.renewLoop(runCtx, cancel)
	}()
	err := fn(runCtx, l)
	cancel(nil)
	<-stopped
	if lost := l.lost(); lost != nil {
		return lost
	}
	if l.refusedOwnToken(err) {
		if err = l.refusedWhileHeld(context.WithoutCancel(ctx), err); errors.Is(err, ErrLeaseLost) {
			return err
		}
	}
	l.release(context.WithoutCancel(ctx))
	return err
}

// refusedOwnToken: err holds a fence policy's refusal of a token of this
// run's own transition (not of a deletion mark an older run left).
func (l *Lease) refusedOwnToken(err error) bool {
	return err != nil && strings.Contains(err.Error(), inventory.FenceRefusal) && strings.Contains(err.Error(), " carries "+l.fence+"/")
}

// refusedWhileHeld explains a fence policy's refusal of this run's write.
// When a renewal shows that nobody wrote the Lease since this run took it,
// the run never lost it, and the policy compared the write's token with an
// old copy of the Lease: kube-apiserver stops watching a built-in kind of
// policy parameter once no binding uses it, even for a second, and keeps
// the copies it had (kubernetes/kubernetes#130887). A renewal that finds
// the Lease taken is the ordinary lost Lease.
func (l *Lease) refusedWhileHeld(ctx context.Context, refusal error) error {
	switch err := l.Confirm(ctx); {
	case errors.Is(err, ErrLeaseLost):
		return err
	case err != nil:
		return refusal
	}
	return fmt.Errorf("%w (kubernetes/kubernetes#130887): this run still holds %s at %s, yet the API server refused its write as if it did not. "+
		"The API server stopped watching Leases for the policy when, for a moment, no binding of it existed, and still reads the Lease as it was then; "+
		"restart kube-apiserver to refresh it, and change the fence's bindings with kubectl apply rather than by deleting them: %w",
		ErrStaleFence, l, l.fence, refusal)
}

// acquire takes the Lease when it is free, released or expired, and waits
// while another run holds it.
func (l *Lease) acquire(ctx context.Context, namespace string, progress LeaseProgress) error {
	deadline := time.Now().Add(l.opts.Wait)
	var seen string
	for {
		cur, err := l.client.Get(ctx, l.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			sent := time.Now()
			cur, err = l.client.Create(ctx, l.record(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: namespace}}, true), metav1.CreateOptions{})
			switch {
			case err == nil:
				l.mine, l.held, l.fence = cur, sent, FenceOf(cur)
				return nil
			case apierrors.IsAlreadyExists(err):
				continue
			case apierrors.IsNotFound(err):
				return fmt.Errorf("Lease %s/%s: namespace %s does not exist: create it, or check -n", namespace, l.name, namespace)
			}
			return l.fail(namespace, "create", err)
		case err != nil:
			return l.fail(namespace, "get", err)
		}
		holder, expires := holderOf(cur)
		if holder == "" || holder == l.opts.Identity || time.Now().After(expires) {
			sent := time.Now()
			taken, err := l.client.Update(ctx, l.record(cur.DeepCopy(), true), metav1.UpdateOptions{})
			switch {
			case err == nil:
				l.mine, l.held, l.fence = taken, sent, FenceOf(taken)
				return nil
			case apierrors.IsConflict(err):
				continue
			}
			return l.fail(namespace, "update", err)
		}
		if key := holder + expires.String(); key != seen {
			seen = key
			progress.Waiting(holder, expires)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: Lease %s/%s is held by %s until %s unless renewed; waited %s. Wait for that run to finish, or delete the Lease if it is stale",
				ErrLeaseHeld, namespace, l.name, holder, expires.UTC().Format(time.RFC3339), l.opts.Wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Second, time.Until(expires)+10*time.Millisecond, time.Until(deadline)+10*time.Millisecond)):
		}
	}
}

// holderOf is the Lease's holder and when its term ends.
func holderOf(l *coordinationv1.Lease) (string, time.Time) {
	var holder string
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	var renewed time.Time
	if l.Spec.RenewTime != nil {
		renewed = l.Spec.RenewTime.Time
	}
	var seconds int32
	if l.Spec.LeaseDurationSeconds != nil {
		seconds = *l.Spec.LeaseDurationSeconds
	}
	return holder, renewed.Add(time.Duration(seconds) * time.Second)
}

// record writes this run as the holder of lease, renewed now. Acquiring
// counts a transition: every run that takes the Lease, even one of the
// same identity, gets a fence of its own.
func (l *Lease) record(lease *coordinationv1.Lease, acquiring bool) *coordinationv1.Lease {
	now := metav1.NowMicro()
	id := l.opts.Identity
	seconds := int32(max(l.opts.Duration/time.Second, 1))
	if acquiring {
		lease.Spec.AcquireTime = &now
		lease.Spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
	}
	lease.Spec.HolderIdentity, lease.Spec.RenewTime, lease.Spec.LeaseDurationSeconds = &id, &now, &seconds
	return lease
}

// Token is this run's fence (the Lease's name and the transition that made
// this run its holder) and a count of the writes it fenced, so that every
// write carries a token of its own: "modelsync-lock:7/42". The fence policy
// accepts a token while the Lease is at that transition.
func (l *Lease) Token() string {
	return fmt.Sprintf("%s/%d", l.fence, l.writes.Add(1))
}

// FenceOf is the fence of the run holding lease, as the fence policy
// derives it from the Lease: its name and its transitions.
func FenceOf(lease *coordinationv1.Lease) string {
	return fmt.Sprintf("%s:%d", lease.Name, ptr.Deref(lease.Spec.LeaseTransitions, 0))
}

// fail explains an error other than "held by another run".
func (l *Lease) fail(namespace, verb string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("Lease %s/%s: %s is forbidden: the identity needs get, create and update on leases.coordination.k8s.io in namespace %s (modelsync rbac prints the Role): %w",
			namespace, l.name, verb, namespace, err)
	}
	return fmt.Errorf("Lease %s/%s: %s: %w", namespace, l.name, verb, err)
}

// Confirm renews the Lease, on the condition that nobody else wrote it since
// this run did: the run still holds it, now. A run that lost it gets
// ErrLeaseLost and must not write.
func (l *Lease) Confirm(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.confirm(ctx)
}

// Hold confirms the Lease before a single write when this run last wrote it
// more than a third of its term ago. Within a batch the writes run without
// a renewal each; a run paused in the middle of one (SIGSTOP, a frozen VM)
// resumes with an old confirmation, renews before its next write, and finds
// the Lease lost instead of writing.
func (l *Lease) Hold(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lostWith == nil && time.Since(l.held) < l.opts.Duration/3 {
		return nil
	}
	return l.confirm(ctx)
}

func (l *Lease) confirm(ctx context.Context) error {
	if l.lostWith != nil {
		return l.lostWith
	}
	// The confirmation counts from when the request was sent: a run frozen
	// while it was in flight resumes with an old confirmation, not a fresh one.
	sent := time.Now()
	renewed, err := l.client.Update(ctx, l.record(l.mine.DeepCopy(), false), metav1.UpdateOptions{})
	switch {
	case err == nil:
		l.mine, l.held = renewed, sent
		return nil
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		l.lostWith = l.lostError(ctx)
		return l.lostWith
	}
	return fmt.Errorf("%s: renew: %w", l, err)
}

// lostError says who holds the Lease now.
func (l *Lease) lostError(ctx context.Context) error {
	now := "nobody (released or deleted)"
	if cur, err := l.client.Get(ctx, l.name, metav1.GetOptions{}); err == nil {
		if holder, _ := holderOf(cur); holder != "" && holder != l.opts.Identity {
			now = holder
		}
	}
	return fmt.Errorf("%w: %s was written by another run since this one renewed it (it holds: %s); this run was paused or cut off longer than the Lease's %s, and stopped without writing more. Make a new plan and run again",
		ErrLeaseLost, l, now, l.opts.Duration)
}

func (l *Lease) lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostWith
}

// renewLoop confirms the Lease a few times per term; a lost Lease cancels
// the run with its cause. A failed renewal (the API server briefly away) is
// retried; the next Confirm decides.
func (l *Lease) renewLoop(ctx context.Context, cancel context.CancelCauseFunc) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := l.Confirm(ctx); errors.Is(err, ErrLeaseLost) {
			cancel(err) // ends the loop too: ctx is the run's
		}
	}, max(l.opts.Duration/3, 10*time.Millisecond))
}

// release hands the Lease back, only if this run still holds it, so the
// next run starts at once.
func (l *Lease) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	free := l.mine.DeepCopy()
	free.Spec.HolderIdentity = nil
	_, _ = l.client.Update(ctx, free, metav1.UpdateOptions{})
}
