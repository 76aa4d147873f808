package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// clusterFlags are kubectl's connection flags.
type clusterFlags struct {
	kubeconfig string
	context    string
	inventory  string
}

func (f *clusterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use")
	fs.StringVar(&f.inventory, "inventory", inventory.DefaultName, "name of the ApplySet parent Secret in the namespace")
}

// connect returns the clients and the target namespace: -n, else the
// context's namespace, else "default".
func (f *clusterFlags) connect(namespace string) (*cluster.Clients, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w; pass --kubeconfig or set KUBECONFIG", err)
	}
	if namespace == "" {
		if namespace, _, err = cc.Namespace(); err != nil {
			return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
		}
	}
	c, err := cluster.New(cfg)
	return c, namespace, err
}

// target is what a cluster command acts on: the tree, read once, the
// namespace it targets, and that cluster's clients.
type target struct {
	source    *source
	clients   *cluster.Clients
	ns        string
	inventory string
	// takeOver lets this tree plan and sync a namespace recorded as
	// another tree's (sync --take-over-namespace).
	takeOver bool
}

// connectTarget reads the tree and connects to its cluster: the namespace
// is -n, else the tree's, else the kubeconfig context's.
func connectTarget(ctx context.Context, sf *sourceFlags, cf *clusterFlags) (*target, error) {
	src, err := sf.open(ctx)
	if err != nil {
		return nil, err
	}
	clients, ns, err := cf.connect(src.namespace)
	if err != nil {
		return nil, err
	}
	return &target{source: src, clients: clients, ns: ns, inventory: cf.inventory}, nil
}

// manager is the engine for the target.
func (t *target) manager() *sync.Manager { return sync.NewManager(t.clients, t.ns, t.inventory) }

// servedBy asks the cluster's discovery (cached by the REST mapper) whether
// it serves a kind.
func servedBy(clients *cluster.Clients) func(schema.GroupKind) bool {
	return func(gk schema.GroupKind) bool {
		_, err := clients.Mapper.RESTMapping(gk)
		return err == nil
	}
}
