package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/inventory"
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
