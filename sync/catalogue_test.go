package sync_test

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

// catalogueAndRules are the models the chat catalogue lists and the models
// the live routes serve.
func (e *env) catalogueAndRules() (listed, served []string) {
	e.T.Helper()
	var entries []struct{ Name string }
	if err := json.Unmarshal([]byte(e.configMap("chatbox-models").Data["models.json"]), &entries); err != nil {
		e.T.Fatal(err)
	}
	for _, en := range entries {
		listed = append(listed, en.Name)
	}
	for name := range e.live(routes) {
		served = append(served, ruleNames(e.get(routes, name[len("AIGatewayRoute "):]))...)
	}
	sort.Strings(served)
	return listed, served
}

// The catalogue follows the routes: a model removed from the tree keeps
// serving until the approved prune removes its rule, and the chat UI lists
// it exactly that long; after the prune neither lists it.
func TestCatalogueFollowsTheRoutes(t *testing.T) {
	e := newEnv(t)
	base := kubetest.RepoTree(t)
	base["models-config/chatbox.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chatbox-models\n  annotations:\n    modelsync.dev/catalogue: models.json\n")}
	e.commit(base, "base")
	less := fstest.MapFS{}
	for k, v := range base {
		less[k] = v
	}
	delete(less, embedding)
	approved := e.commit(less, "A")
	const removed = "qwen3-embedding-8b"
	listed, served := e.catalogueAndRules()
	diffStrings(t, "catalogue after the sync that removed a model", served, listed)
	if !slices.Contains(listed, removed) {
		t.Errorf("the removed model is not listed while its rule still serves: %v", listed)
	}
	if res, _ := e.Plan(less); res.Plan.HasChanges() && len(res.Plan.Removals()) == 0 {
		t.Errorf("the tree plans changes beyond the removals after its sync: %+v", res.Plan.Changes)
	}
	if _, _, err := e.prune(less, approved, sync.DefaultPruneOptions()); err != nil {
		t.Fatal(err)
	}
	listed, served = e.catalogueAndRules()
	diffStrings(t, "catalogue after the prune", served, listed)
	if slices.Contains(listed, removed) {
		t.Errorf("the pruned model is still listed: %v", listed)
	}
	if res, _ := e.Plan(less); res.Plan.HasChanges() {
		t.Errorf("not clean after the prune: %+v", res.Plan.Changes)
	}
}
