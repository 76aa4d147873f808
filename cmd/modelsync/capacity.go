package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"modelsync.dev/modelsync/capacity"
	"modelsync.dev/modelsync/cluster"
)

// DefaultSnapshotName is the capacity snapshot ConfigMap's name.
const DefaultSnapshotName = "modelsync-capacity"

func newCapacityCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Publish the cluster's capacity (nodes, and each pod's requests) for plans that may not read pods",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCapacityPublishCommand())
	return cmd
}

type capacityPublishOptions struct {
	cluster   clusterFlags
	namespace string
	name      string
}

func newCapacityPublishCommand() *cobra.Command {
	o := &capacityPublishOptions{name: DefaultSnapshotName}
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Write the capacity snapshot ConfigMap that diff --capacity-from reads",
		Long: "publish lists the nodes and the pods of every namespace and writes, as the ConfigMap -n/--name, what\n" +
			"the plan's capacity check needs and nothing more: each node's labels, taints and allocatable\n" +
			"resources, each pod's namespace, name, labels, node, phase and resource requests. No container,\n" +
			"image, command, environment variable or volume is written. Run it on a schedule (a CronJob) as an\n" +
			"identity that may list nodes and pods (modelsync rbac --capacity-publisher); merge request plans then\n" +
			"read the one ConfigMap (diff --capacity-from NAMESPACE/NAME) and need no right to read any pod.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.cluster.register(cmd.Flags())
	namespaceFlag(cmd.Flags(), &o.namespace)
	cmd.Flags().StringVar(&o.name, "name", o.name, "the ConfigMap's name")
	return cmd
}

func (o *capacityPublishOptions) Validate() error {
	if o.name == "" {
		return fmt.Errorf("--name: give the ConfigMap's name")
	}
	return nil
}

func (o *capacityPublishOptions) Run(ctx context.Context, out, _ io.Writer) error {
	clients, ns, err := o.cluster.connect(o.namespace)
	if err != nil {
		return err
	}
	s, err := capacity.Take(ctx, clients.Reader(), time.Now())
	if err != nil {
		return err
	}
	cm, err := s.ConfigMap(ns, o.name)
	if err != nil {
		return err
	}
	if _, err := clients.Apply(ctx, cm, cluster.ApplyOptions{FieldManager: "modelsync-capacity", Force: true}); err != nil {
		return fmt.Errorf("write ConfigMap %s/%s: %w", ns, o.name, err)
	}
	fmt.Fprintf(out, "published ConfigMap %s/%s: %d node(s), %d pod(s), taken %s\n", ns, o.name, len(s.Nodes), len(s.Pods), s.Taken.Format(time.RFC3339))
	return nil
}
