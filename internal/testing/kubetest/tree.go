package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/internal/controlplane"
)

// GeneratedTree is a models-config tree of n served models over route groups of
// about 50 models each (sharded at 15 rules), sharing one API key policy.
func GeneratedTree(n int) fstest.MapFS {
	files := fstest.MapFS{}
	add := func(name, content string) { files["models-config/"+name] = &fstest.MapFile{Data: []byte(content)} }
	add("securitypolicy.yaml", "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata:\n  name: key\nspec:\n  type: APIKey\n  apiKey: {secretRef: {name: s}}\n")
	for g := 0; g*50 < n; g++ {
		add(fmt.Sprintf("gatewayroute/g%d.yaml", g), fmt.Sprintf("apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata:\n  name: g%d\nspec:\n  parentRefs:\n  - name: gw\n", g))
	}
	for i := range n {
		add(fmt.Sprintf("models/m%04d.yaml", i), fmt.Sprintf(`apiVersion: modelsync.dev/v1alpha1
kind: Model
metadata:
  name: m%04d
spec:
  upstream: org/model-%d
  route: g%d
  server:
    image: vllm/vllm-openai:v0.11.2
    weightsGi: 16
    paramsB: 8
    gpus: 2
    apiServers: 4
`, i, i, i/50))
	}
	return files
}

// RepoTree copies the engine tests' tree (testdata/fixture/models-config,
// a frozen copy of models-config/) into memory, so a test can change it
// without touching the work tree. Paths start with models-config/.
func RepoTree(t testing.TB) fstest.MapFS {
	t.Helper()
	return treeAt(t, filepath.Join("testdata", "fixture"))
}

// ModelsConfig copies the repository's own models-config/ (the examples
// make run syncs) into memory. Paths start with models-config/.
func ModelsConfig(t testing.TB) fstest.MapFS {
	t.Helper()
	return treeAt(t, ".")
}

// treeAt copies <repository>/<dir>/models-config into memory.
func treeAt(t testing.TB, dir string) fstest.MapFS {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo, err := controlplane.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(repo, dir)
	files := fstest.MapFS{}
	err = filepath.WalkDir(filepath.Join(root, "models-config"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
