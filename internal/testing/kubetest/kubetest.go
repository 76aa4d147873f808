// Package kubetest is the test harness: one real control plane per test
// package, and a fresh namespace per test.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"modelsync.dev/modelsync/internal/controlplane"
)

var (
	shared *controlplane.ControlPlane
	nsSeq  atomic.Int64
)

// Main starts the control plane, runs the package's tests and stops it.
// Call it from TestMain. Without the binaries the tests fail: run `make test`.
func Main(m *testing.M) {
	os.Exit(run(m, false))
}

// MainCluster is Main with the live-like cluster: controller-manager,
// scheduler and kwok GPU nodes (testdata/cluster/nrp.yaml), for the packages
// whose tests need workloads to roll out. Others stay on the API server
// alone, which starts faster.
func MainCluster(m *testing.M) {
	os.Exit(run(m, true))
}

func run(m *testing.M, live bool) int {
	klog.SetLogger(logr.Discard()) // client-go's leader election logs through klog
	cp, err := start(context.Background(), live)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
		return 2
	}
	shared = cp
	defer func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kubetest: stop control plane: %v\n", err)
		}
	}()
	return m.Run()
}

// start launches a control plane with the repository's CRDs, and with the
// simulated cluster when live.
func start(ctx context.Context, live bool) (*controlplane.ControlPlane, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := controlplane.RepoRoot(wd)
	if err != nil {
		return nil, err
	}
	opts := controlplane.Options{AssetsDir: os.Getenv(controlplane.AssetsEnv), CRDDirs: controlplane.CRDDirs(root)}
	if live {
		opts.Cluster = filepath.Join(root, "testdata", "cluster", "nrp.yaml")
	}
	return controlplane.Start(ctx, opts)
}

// PrivateControlPlane starts a control plane of the test's own, for a test
// that stops or restarts it; it is stopped when the test ends.
func PrivateControlPlane(t testing.TB) *controlplane.ControlPlane {
	t.Helper()
	cp, err := start(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	return cp
}

// ControlPlane returns the package's running control plane.
func ControlPlane(t testing.TB) *controlplane.ControlPlane {
	t.Helper()
	if shared == nil {
		t.Fatal("kubetest: no control plane; call kubetest.Main from TestMain")
	}
	return shared
}

// Config returns a copy of the admin rest.Config with raised client limits.
func Config(t testing.TB) *rest.Config {
	cfg := rest.CopyConfig(ControlPlane(t).Config)
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

// Namespace creates a namespace unique to this test.
func Namespace(t testing.TB) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), nsSeq.Add(1))
	cs := kubernetes.NewForConfigOrDie(Config(t))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}
