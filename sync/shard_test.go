package sync_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

// A model added to a route group of more than 15 models moves the rules that
// sort after it to the next shard. A moved rule is not a removal: sync moves
// it (the shard gaining it first, so the model is always routed), with no
// prune to approve, and the full shard never holds a 16th rule.
func TestRuleMovesBetweenShards(t *testing.T) {
	e := newEnv(t)
	files := kubetest.GeneratedTree(20) // route g0: m0000..m0014, g0-2: m0015..m0019
	e.sync(files, sync.DefaultOptions())

	files["models-config/models/a-first.yaml"] = kubetest.ExternalModel("a-first", "g0")
	res, _ := e.Plan(files)
	if got := res.Plan.Removals(); len(got) != 0 {
		t.Errorf("a moved rule is planned as a removal: %+v", got)
	}
	for _, c := range res.Plan.Changes {
		if c.Name == "g0" && (c.Action != diff.Update || c.Message != "rule m0014 moves to g0-2") {
			t.Errorf("the shard giving a rule away: %+v", c)
		}
	}
	_, rec := e.sync(files, sync.DefaultOptions())
	want := []string{"create Backend envoy-ai-gateway-a-first", "create AIServiceBackend envoy-ai-gateway-a-first",
		"update AIGatewayRoute g0-2", "update AIGatewayRoute g0"}
	diffStrings(t, "applied", want, rec.lines)

	rules := func(name string) []string { return ruleNames(e.get(routes, name)) }
	var g0, g02 []string
	g0 = append(g0, "a-first")
	for i := range 14 {
		g0 = append(g0, fmt.Sprintf("m%04d", i))
	}
	for i := 14; i < 20; i++ {
		g02 = append(g02, fmt.Sprintf("m%04d", i))
	}
	diffStrings(t, "g0 rules", g0, rules("g0"))
	diffStrings(t, "g0-2 rules", g02, rules("g0-2"))
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after the move: %+v", res.Plan.Changes)
	}

	// Removing the model again: its rule awaits the prune, so g0 has no room
	// for m0014 yet; m0014 stays in g0-2 until the prune made room.
	delete(files, "models-config/models/a-first.yaml")
	res, _ = e.Plan(files)
	for _, c := range res.Plan.Changes {
		if c.Name == "g0" && c.Action == diff.Unchanged && c.Message != "rule m0014 stays in g0-2 until the pending removals here are pruned" {
			t.Errorf("g0 while its removal is pending: %+v", c)
		}
	}
	if _, _, err := e.trySync(t.Context(), files, sync.DefaultOptions()); err != nil {
		t.Fatalf("sync with a removal pending in a full shard: %v", err)
	}
	diffStrings(t, "g0 rules before the prune", g0, rules("g0"))
	diffStrings(t, "g0-2 rules before the prune", g02, rules("g0-2"))
	res, _ = e.Plan(files)
	if _, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions()); err != nil {
		t.Fatal(err)
	}
	e.sync(files, sync.DefaultOptions())
	g0 = append(g0[1:], "m0014")
	diffStrings(t, "g0 rules after the prune and a sync", g0, rules("g0"))
	diffStrings(t, "g0-2 rules after the prune and a sync", g02[1:], rules("g0-2"))
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan at the end: %+v", res.Plan.Changes)
	}
}

// Replacing a model in a full route: sync refuses, naming the rule that
// waits for the prune; the prune it points to makes room, and sync follows.
func TestFullRouteSyncsAfterThePrune(t *testing.T) {
	e := newEnv(t)
	files := kubetest.GeneratedTree(15)
	e.sync(files, sync.DefaultOptions())
	delete(files, "models-config/models/m0003.yaml")
	files["models-config/models/z-new.yaml"] = kubetest.ExternalModel("z-new", "g0")
	if _, _, err := e.trySync(t.Context(), files, sync.DefaultOptions()); err == nil || !strings.Contains(err.Error(), "(m0003) are removed from the tree and kept until an approved prune") {
		t.Fatalf("sync of 15 rules + 1 pending: %v", err)
	}
	res, _ := e.Plan(files)
	if _, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions()); err != nil {
		t.Fatal(err)
	}
	e.sync(files, sync.DefaultOptions())
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after prune and sync: %+v", res.Plan.Changes)
	}
}

// A removal that empties the last shard: its rule moves back into the full
// first shard, which still keeps the removed rule. The rule stays in the
// emptied shard until the prune, which gives it to the first shard before
// deleting the emptied one: the model is routed throughout.
func TestShardEmptiedByRemoval(t *testing.T) {
	e := newEnv(t)
	files := kubetest.GeneratedTree(16) // g0: m0000..m0014, g0-2: m0015
	e.sync(files, sync.DefaultOptions())
	delete(files, "models-config/models/m0003.yaml")
	_, rec, err := e.trySync(t.Context(), files, sync.DefaultOptions())
	if err != nil {
		t.Fatalf("sync removing a model from a full shard whose next shard empties: %v", err)
	}
	if len(rec.lines) != 0 {
		t.Errorf("sync before the prune wrote %v, want nothing", rec.lines)
	}
	res, _ := e.Plan(files)
	var removals []string
	for _, c := range res.Plan.Removals() {
		s := string(c.Action) + " " + c.Kind + " " + c.Name
		if c.Item != nil {
			s += " " + c.Item.Key
		}
		removals = append(removals, s)
	}
	want := []string{"prune-item AIGatewayRoute g0 m0003", "prune AIGatewayRoute g0-2"}
	for _, w := range want {
		if !slices.Contains(removals, w) {
			t.Errorf("removals %v lack %q", removals, w)
		}
	}
	_, prec, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The rule reaches g0 (entries first) before g0-2 is deleted.
	if i, j := slices.Index(prec.lines, "prune-item AIGatewayRoute g0"), slices.Index(prec.lines, "prune AIGatewayRoute g0-2"); i < 0 || j < 0 || i > j {
		t.Errorf("prune order %v", prec.lines)
	}
	if got := gateway.Items(e.get(routes, "g0")); len(got) != 15 || got[14].Key != "m0015" {
		t.Errorf("g0 after the prune holds %d rules, last %v", len(got), got[len(got)-1].Key)
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after the prune: %+v", res.Plan.Changes)
	}
}
