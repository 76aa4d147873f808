package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/manifest"
	"modelsync.dev/modelsync/sync"
)

func newStatusCommand() *cobra.Command {
	var cf clusterFlags
	var namespace string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the inventory, the revision it was synced at, and the health of each member",
		Long: "status lists the inventory's members with their health: healthy, waiting (a rollout or a controller\n" +
			"still to act), unschedulable (the scheduler's reason), not accepted / not ready (a controller's verdict\n" +
			"with its reason), terminating. Exit 0 when every member is healthy, 1 when any is not, 2 on errors.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clients, ns, err := cf.connect(namespace)
			if err != nil {
				return err
			}
			inv := inventory.New(clients.Reader(), ns, cf.inventory)
			parent, err := inv.Parent(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !parent.Exists {
				fmt.Fprintf(out, "no inventory %s: nothing was synced to namespace %s yet\n", inv, ns)
				return nil
			}
			members, err := inv.Members(cmd.Context(), inventory.Kinds(parent.GroupKinds), parent.Secrets, 16)
			if err != nil {
				return err
			}
			slices.SortFunc(members, func(a, b unstructured.Unstructured) int {
				ia, ib := manifest.IDOf(&a), manifest.IDOf(&b)
				if r := gateway.ApplyRank(ia.Kind) - gateway.ApplyRank(ib.Kind); r != 0 {
					return r
				}
				return strings.Compare(ia.String(), ib.String())
			})
			revision := parent.Revision
			if revision == "" {
				revision = "(not recorded)"
			}
			fmt.Fprintf(out, "inventory: %s (%s)\nrevision:  %s, synced at %s\nmembers:   %d\n", inv, inv.ID(), revision, parent.SyncedAt, len(members))
			fmt.Fprintf(out, "recorded:  %d, which diff takes as unchanged while they stay as the last sync left them (diff --full dry-runs all)\n\n", len(parent.Verified))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tHEALTH\tMESSAGE")
			unhealthy := 0
			for i := range members {
				ok, msg := sync.Ready(&members[i])
				health := "healthy"
				if !ok {
					health, unhealthy = "waiting", unhealthy+1
					if sync.Refused(msg) {
						health, msg, _ = strings.Cut(msg, ": ")
					}
					why, err := sync.Unschedulable(cmd.Context(), clients.Reader(), &members[i], 0)
					if err != nil {
						return err
					}
					if why != "" {
						health, msg = "unschedulable", why
					}
				}
				if members[i].GetDeletionTimestamp() != nil {
					health, msg = "terminating", fmt.Sprintf("finalizers %v", members[i].GetFinalizers())
				}
				id := manifest.IDOf(&members[i])
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id.Kind, id.Name, health, msg)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "\n%d of %d healthy\n", len(members)-unhealthy, len(members))
			if unhealthy > 0 {
				return exitCode(exitChanges) // something is not healthy: scripts and jobs see it
			}
			return nil
		},
	}
	cf.register(cmd.Flags())
	namespaceFlag(cmd.Flags(), &namespace)
	return cmd
}
