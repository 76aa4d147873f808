package sync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/inventory"
)

// LeaseOptions configures WithLease.
type LeaseOptions struct {
	// Identity names this run in the Lease, so a waiting run can say who
	// holds it: the CI job URL when there is one.
	Identity string
	// Wait is how long to wait for another run to finish.
	Wait time.Duration
	// Duration is how long a holder that stopped renewing keeps the Lease.
	Duration time.Duration
}

// DefaultLeaseOptions returns the defaults.
func DefaultLeaseOptions() LeaseOptions {
	return LeaseOptions{Identity: DefaultIdentity(), Wait: 5 * time.Minute, Duration: 30 * time.Second}
}

// DefaultIdentity is $CI_JOB_URL, else host:pid.
func DefaultIdentity() string {
	if u := os.Getenv("CI_JOB_URL"); u != "" {
		return u
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// ErrLeaseHeld is returned when another run kept the Lease past the wait.
var ErrLeaseHeld = errors.New("another modelsync run holds the lease")

// LeaseName is the Lease guarding inv's target.
func LeaseName(inv *inventory.Inventory) string { return inv.Name + "-lock" }

// WithLease runs fn while holding the coordination.k8s.io Lease of inv's
// target, renewed in the background and released when fn returns. If the
// Lease cannot be renewed, fn's context is cancelled: a run that lost the
// Lease must stop writing.
func WithLease(ctx context.Context, c *cluster.Clients, inv *inventory.Inventory, opts LeaseOptions, fn func(context.Context) error) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: inv.Namespace, Name: LeaseName(inv)},
		Client:     c.Core.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: opts.Identity},
	}
	renew := opts.Duration * 2 / 3
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var started atomic.Bool
	var fnErr error
	finished := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.Duration,
		RenewDeadline:   renew,
		RetryPeriod:     opts.Duration / 15,
		ReleaseOnCancel: true,
		Name:            "modelsync",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				started.Store(true)
				defer close(finished)
				fnErr = fn(ctx)
				cancel()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("lease %s/%s: %w", inv.Namespace, LeaseName(inv), err)
	}
	timer := time.AfterFunc(opts.Wait, func() {
		if !started.Load() {
			cancel()
		}
	})
	defer timer.Stop()
	le.Run(runCtx)
	if !started.Load() {
		if err := ctx.Err(); err != nil {
			return err
		}
		holder := le.GetLeader()
		if holder == "" {
			holder = "unknown (the Lease could not be read)"
		}
		return fmt.Errorf("%w: Lease %s/%s is held by %s; waited %s. Wait for that run to finish, or delete the Lease if it is stale",
			ErrLeaseHeld, inv.Namespace, LeaseName(inv), holder, opts.Wait)
	}
	<-finished
	if errors.Is(fnErr, context.Canceled) && ctx.Err() == nil {
		return fmt.Errorf("lost Lease %s/%s (could not renew it within %s), stopped: %w", inv.Namespace, LeaseName(inv), renew, fnErr)
	}
	return fnErr
}
