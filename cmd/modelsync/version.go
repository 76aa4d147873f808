package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/internal/buildinfo"
)

type versionOptions struct{}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the modelsync version",
		Args:  cobra.NoArgs,
		RunE:  runE(&versionOptions{}),
	}
}

func (versionOptions) Validate() error { return nil }

func (versionOptions) Run(_ context.Context, out, _ io.Writer) error {
	_, err := fmt.Fprintf(out, "modelsync %s (commit %s)\n", buildinfo.Version(), buildinfo.Commit())
	return err
}
