package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// Issue 5, test 6: while one run holds the target's Lease, a second waits;
// past its wait it fails naming the holder, within it it runs after the
// first is done.
func TestSecondRunWaitsForTheLease(t *testing.T) {
	e := newEnv(t)
	inv := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName)
	holding, release, firstDone := make(chan struct{}), make(chan struct{}), make(chan error)
	first := sync.LeaseOptions{Identity: "https://gitlab.example/jobs/101", Wait: 10 * time.Second, Duration: 15 * time.Second}
	go func() {
		firstDone <- sync.NewManager(e.C, e.NS, inv.Name).WithLease(t.Context(), first, sync.NoProgress{}, func(context.Context, *sync.Lease) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	second := sync.LeaseOptions{Identity: "https://gitlab.example/jobs/102", Wait: 2 * time.Second, Duration: 15 * time.Second}
	ran := false
	err := sync.NewManager(e.C, e.NS, inv.Name).WithLease(t.Context(), second, sync.NoProgress{}, func(context.Context, *sync.Lease) error { ran = true; return nil })
	if !errors.Is(err, sync.ErrLeaseHeld) || !strings.Contains(err.Error(), "held by https://gitlab.example/jobs/101") || ran {
		t.Fatalf("second run while the first holds the Lease: ran=%v, err=%v; want a refusal naming job 101", ran, err)
	}

	second.Wait = 30 * time.Second
	secondDone := make(chan error)
	var order []string
	go func() {
		secondDone <- sync.NewManager(e.C, e.NS, inv.Name).WithLease(t.Context(), second, sync.NoProgress{}, func(context.Context, *sync.Lease) error {
			order = append(order, "second")
			return nil
		})
	}()
	time.Sleep(time.Second)
	order = append(order, "first done")
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if err := <-secondDone; err != nil {
		t.Fatalf("second run after the first released: %v", err)
	}
	diffStrings(t, "order", []string{"first done", "second"}, order)
}

func TestLeaseReturnsTheRunsError(t *testing.T) {
	e := newEnv(t)
	inv := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName)
	boom := errors.New("boom")
	opts := sync.DefaultLeaseOptions()
	opts.Identity = "run-a"
	if err := sync.NewManager(e.C, e.NS, inv.Name).WithLease(t.Context(), opts, sync.NoProgress{}, func(context.Context, *sync.Lease) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("WithLease = %v, want the run's error", err)
	}
	// Released on return: the next run does not wait out the lease duration.
	opts.Wait = 3 * time.Second
	if err := sync.NewManager(e.C, e.NS, inv.Name).WithLease(t.Context(), opts, sync.NoProgress{}, func(context.Context, *sync.Lease) error { return nil }); err != nil {
		t.Errorf("a run after a released Lease: %v", err)
	}
}
