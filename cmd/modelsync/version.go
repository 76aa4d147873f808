package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/internal/buildinfo"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the modelsync version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "modelsync %s (commit %s)\n", buildinfo.Version(), buildinfo.Commit())
			return err
		},
	}
}
