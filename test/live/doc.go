// Package livetest holds the tests that need the live-like local cluster
// (controller-manager, scheduler, kwok GPU nodes from testdata/cluster/):
// rollouts, status written by real controllers, and the scheduler's reasons.
package live
