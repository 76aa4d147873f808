package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// Exit codes, as kubectl diff: 0 nothing to do, 1 changes (diff) or errors found
// (validate), 2 and above a failure of the tool or its inputs.
const (
	exitOK      = 0
	exitChanges = 1
	exitError   = 2
	// exitPartial: a prune did part of the approved removals; rerunning the
	// same plan after fixing the failures finishes it.
	exitPartial = 3
	// exitInterrupted: SIGINT or SIGTERM, and the command did not stop
	// within the grace period (128 + SIGTERM, as a shell reports it).
	exitInterrupted = 143
)

// exitCode is returned by a command whose outcome is not a failure but still
// needs a non-zero exit (diff with changes, validate with errors).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Execute runs the CLI and decides the process exit code: the only place that does.
func Execute(args []string, stdout, stderr io.Writer) int {
	// client-go's leader election logs through klog; modelsync reports itself.
	klog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	done := make(chan struct{})
	defer close(done)
	go stopPromptly(ctx, done, stderr)
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, sync.ErrPartial):
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitPartial
	default:
		fmt.Fprintf(stderr, "error: %v\n", err)
		for _, h := range hints {
			if errors.Is(err, h.err) {
				fmt.Fprintf(stderr, "hint: %s\n", h.text)
			}
		}
		return exitError
	}
}

// gracePeriod is how long a command has after SIGINT or SIGTERM to stop by
// itself (every request carries the context, so it normally stops at once)
// before the process exits anyway: GitLab cancels a job with SIGTERM and
// kills it soon after, and a job must never outlive its cancellation.
const gracePeriod = 10 * time.Second

func stopPromptly(ctx context.Context, done <-chan struct{}, stderr io.Writer) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	select {
	case <-done:
	case <-time.After(gracePeriod):
		fmt.Fprintf(stderr, "error: interrupted, and the command did not stop within %s; exiting\n", gracePeriod)
		os.Exit(exitInterrupted)
	}
}

// hints say which flag answers a refusal; the libraries state the facts.
var hints = []struct {
	err  error
	text string
}{
	{sync.ErrNotInSet, "rerun sync with --adopt to take the objects over (kubectl's field managers included), or rename them in the tree"},
	{sync.ErrMassPrune, "check --path and -n; pass --allow-mass-prune (or raise --max-prunes) if that is intended"},
	{sync.ErrNeverApplied, "pass --prune-unapplied to delete them"},
	{sync.ErrEmptyTree, "check --path and -n; pass --allow-empty if every member is to await pruning"},
	{inventory.ErrForeignParent, "choose another parent Secret with --inventory NAME"},
	{sync.ErrLeaseHeld, "raise --lock-timeout to wait longer"},
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "modelsync",
		Short:         "Make a namespace match a models-config/ tree: plan, sync, approved prune",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCommand(), newRenderCommand(), newValidateCommand(), newDiffCommand(), newSyncCommand(), newPruneCommand(), newStatusCommand(), newRBACCommand(), newImportCommand(), newLockCommand(), newSizeCommand(), newCapacityCommand())
	return root
}
