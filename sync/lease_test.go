package sync_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// While one run holds the target's Lease, a second waits;
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
	// Both goroutines say when they ran; the order they say it in is the
	// order the Lease let them run (the API server orders them, which the
	// race detector cannot see, so the channel is the only shared state).
	events := make(chan string, 2)
	go func() {
		secondDone <- sync.NewManager(e.C, e.NS, inv.Name).WithLease(t.Context(), second, sync.NoProgress{}, func(context.Context, *sync.Lease) error {
			events <- "second"
			return nil
		})
	}()
	time.Sleep(time.Second)
	events <- "first done"
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if err := <-secondDone; err != nil {
		t.Fatalf("second run after the first released: %v", err)
	}
	close(events)
	var order []string
	for ev := range events {
		order = append(order, ev)
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

// frozenReply holds the reply of one armed request to a Lease: the API
// server accepted the write, and the run froze before it read the answer.
type frozenReply struct {
	rt    http.RoundTripper
	armed atomic.Bool
	hold  time.Duration
	puts  atomic.Int64
}

func (f *frozenReply) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.rt.RoundTrip(r)
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/leases/") {
		f.puts.Add(1)
		if f.armed.CompareAndSwap(true, false) {
			time.Sleep(f.hold)
		}
	}
	return resp, err
}

// Fence window 2: a renewal in flight when the run froze is accepted by the
// API server; the run resumes and must count its confirmation from when the
// request was sent, not from when it read the answer, so its next write
// confirms again instead of trusting an old success for a third of the term.
func TestRenewalAnsweredLateIsNotFresh(t *testing.T) {
	e := newEnv(t)
	frozen := &frozenReply{hold: 1500 * time.Millisecond}
	cfg := kubetest.Config(t)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { frozen.rt = rt; return frozen }
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := sync.LeaseOptions{Identity: "https://gitlab.example/jobs/7", Wait: 5 * time.Second, Duration: 3 * time.Second}
	l, err := sync.NewManager(c, e.NS, inventory.DefaultName).AcquireLease(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	frozen.armed.Store(true)
	if err := l.Confirm(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := frozen.puts.Load()
	if err := l.Hold(t.Context()); err != nil {
		t.Fatal(err)
	}
	if frozen.puts.Load() == before {
		t.Errorf("Hold trusted a renewal sent %s ago (more than a third of the %s term) without confirming again", frozen.hold, opts.Duration)
	}
}
