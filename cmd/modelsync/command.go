package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// options are what every command is built from: shared flag groups and the
// command's own flags, which cobra fills; Validate checks them together
// before anything is read, and Run does the work.
type options interface {
	Validate() error
	Run(ctx context.Context, out, errOut io.Writer) error
}

// withArgs are the options of a command that takes positional arguments.
type withArgs interface {
	options
	setArgs(args []string)
}

// runE is every command's RunE: flags → options → Validate → Run.
func runE(o options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if a, ok := o.(withArgs); ok {
			a.setArgs(args)
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
}

// oneOf checks that a flag's value is one of those allowed.
func oneOf(flag, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	return fmt.Errorf("%s %s: use %s", flag, value, orList(allowed))
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
