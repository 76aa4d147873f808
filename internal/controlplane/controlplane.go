// Package controlplane starts a real kube-apiserver and etcd (built by
// `make controlplane` from testdata/controlplane) for tests and for `make run`,
// and installs the CRDs modelsync works with.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsEnv names the directory holding the kube-apiserver and etcd binaries.
// It is envtest's own variable; the Makefile sets it to the cache directory.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// ServiceCIDR is large enough for the thousands of Services the benchmarks create
// (envtest's default /24 allocates only 254 ClusterIPs).
const ServiceCIDR = "10.96.0.0/16"

// Options configures Start.
type Options struct {
	// AssetsDir holds kube-apiserver and etcd.
	AssetsDir string
	// CRDDirs are installed in order; each is a directory of CRD YAML files.
	CRDDirs []string
	// Cluster, when set, is a cluster file (testdata/cluster/nrp.yaml): the
	// control plane then also runs kube-controller-manager, kube-scheduler
	// and kwok, creates the file's nodes and classes, and provisions claims,
	// so workloads schedule, roll out and report status as on a real cluster.
	Cluster string
	// ReadyDelay is how long a scheduled pod takes to become ready on the
	// simulated cluster, standing in for a model server loading its weights;
	// a pod's annotation ReadyDelayAnnotation (a Go duration) overrides it.
	ReadyDelay time.Duration
}

// ControlPlane is a running kube-apiserver + etcd.
type ControlPlane struct {
	env     *envtest.Environment
	cluster *cluster
	Config  *rest.Config
	// CRDs are the definitions that were installed.
	CRDs []*apiextensionsv1.CustomResourceDefinition
}

// Start launches etcd and kube-apiserver and installs the CRDs.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if opts.AssetsDir == "" {
		return nil, fmt.Errorf("no control-plane binaries: set %s or run `make controlplane`", AssetsEnv)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(opts.AssetsDir, bin)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make controlplane`: %w", bin, opts.AssetsDir, err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    opts.AssetsDir,
		CRDDirectoryPaths:        opts.CRDDirs,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStopTimeout:  defaultStopTimeout,
		ControlPlaneStartTimeout: defaultStartTimeout,
	}
	api := env.ControlPlane.GetAPIServer()
	api.Configure().Set("service-cluster-ip-range", ServiceCIDR)
	// The benchmarks send thousands of requests in parallel.
	api.Configure().Set("max-requests-inflight", "2000")
	api.Configure().Set("max-mutating-requests-inflight", "1000")
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	cp := &ControlPlane{env: env, Config: cfg, CRDs: env.CRDs}
	if opts.Cluster != "" {
		if err := cp.startCluster(ctx, opts); err != nil {
			_ = cp.Stop()
			return nil, fmt.Errorf("start the simulated cluster: %w", err)
		}
	}
	return cp, nil
}

// Stop terminates both processes and removes their data directories.
func (c *ControlPlane) Stop() error {
	if c == nil || c.env == nil {
		return nil
	}
	return errors.Join(c.cluster.stop(), c.env.Stop())
}

// Kubeconfig returns a kubeconfig for an admin user of this control plane.
func (c *ControlPlane) Kubeconfig() ([]byte, error) {
	user, err := c.env.ControlPlane.AddUser(envtest.User{Name: "modelsync-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add admin user: %w", err)
	}
	return user.KubeConfig()
}

// User returns a kubeconfig and a rest.Config of a client-certificate user
// of this control plane, with no permission but what RBAC grants it.
func (c *ControlPlane) User(name string, groups ...string) ([]byte, *rest.Config, error) {
	user, err := c.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("add user %s: %w", name, err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, nil, err
	}
	return kc, user.Config(), nil
}

// RepoRoot finds the directory holding the modelsync go.mod, starting at dir.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module modelsync.dev/modelsync\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("modelsync go.mod not found above " + dir)
		}
	}
}

// CRDDirs returns the CRD directories to install for the repository at root:
// the project's own CRDs in testdata/crds, whatever lies beside the
// checkout, so a user's clone tests exactly what CI tests. Their fidelity to
// the upstream CRDs is checked by TestCRDFidelity (UpstreamCRDsEnv).
func CRDDirs(root string) []string {
	return []string{filepath.Join(root, "testdata", "crds")}
}

// UpstreamCRDsEnv names a folder of upstream CRDs (one folder per project,
// as the upstream releases publish them) that TestCRDFidelity compares the
// project's own CRDs with. Nothing else reads it.
const UpstreamCRDsEnv = "MODELSYNC_UPSTREAM_CRDS"

// UpstreamCRDDirs returns dir and every folder directly inside it.
func UpstreamCRDDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", UpstreamCRDsEnv, err)
	}
	dirs := []string{dir}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	return dirs, nil
}

const (
	defaultStartTimeout = 3 * time.Minute
	defaultStopTimeout  = 30 * time.Second
)

// StopAPIServer stops kube-apiserver alone; etcd and its data stay.
func (c *ControlPlane) StopAPIServer() error {
	return c.env.ControlPlane.APIServer.Stop()
}

// StartAPIServer starts a stopped kube-apiserver again on the same port, and
// returns a new admin config: the restarted server has new certificates.
func (c *ControlPlane) StartAPIServer() (*rest.Config, error) {
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		return nil, fmt.Errorf("restart kube-apiserver: %w", err)
	}
	user, err := c.env.ControlPlane.AddUser(envtest.User{Name: "modelsync-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add admin user: %w", err)
	}
	c.Config = user.Config()
	return c.Config, nil
}
