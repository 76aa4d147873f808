package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

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
	root.AddCommand(newVersionCommand(), newRenderCommand(), newValidateCommand(), newDiffCommand(), newSyncCommand(), newPruneCommand(), newStatusCommand(), newRBACCommand(), newImportCommand())
	return root
}
