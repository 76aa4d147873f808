// Command controlplane runs the local kube-apiserver + etcd that `make run`
// syncs models-config/ into, until it receives SIGINT or SIGTERM. It writes an
// admin kubeconfig to -kubeconfig once the API server answers and the CRDs are
// installed, and removes it on exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"modelsync.dev/modelsync/internal/controlplane"
)

func main() {
	// A FlagSet of its own: controller-runtime registers -kubeconfig on the global one.
	fs := flag.NewFlagSet("controlplane", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", ".cache/local/kubeconfig", "where to write the admin kubeconfig")
	cluster := fs.String("cluster", "testdata/cluster/nrp.yaml", "the simulated cluster (nodes, classes); empty runs the API server alone")
	readyDelay := fs.Duration("ready-delay", 5*time.Second, "how long a scheduled pod takes to become ready (a model loading); the pod annotation "+controlplane.ReadyDelayAnnotation+" overrides it")
	_ = fs.Parse(os.Args[1:])
	if err := run(*kubeconfig, *cluster, *readyDelay); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		os.Exit(1)
	}
}

func run(kubeconfig, cluster string, readyDelay time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := controlplane.RepoRoot(wd)
	if err != nil {
		return err
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		AssetsDir:  os.Getenv(controlplane.AssetsEnv),
		CRDDirs:    controlplane.CRDDirs(root),
		Cluster:    cluster,
		ReadyDelay: readyDelay,
	})
	if err != nil {
		return err
	}
	defer cp.Stop()
	cfg, err := cp.Kubeconfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	tmp := kubeconfig + ".tmp"
	if err := os.WriteFile(tmp, cfg, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, kubeconfig); err != nil {
		return err
	}
	defer os.Remove(kubeconfig)
	fmt.Printf("control plane at %s, %d CRDs installed; kubeconfig %s\n", cp.Config.Host, len(cp.CRDs), kubeconfig)
	<-ctx.Done()
	return nil
}
