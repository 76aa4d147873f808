package diff

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/manifest"
)

// Move is an entry leaving a shared object for another object of its group
// (manifest.AnnotationGroup): the shards of one route group.
type Move struct {
	Item manifest.Item
	// To is the name of the object that holds the entry in the tree.
	To string
	// From, for a deferred move seen from the receiving object, is the
	// object keeping the entry until the prune has made room.
	From string
}

// Gives is whether the move takes an entry out of this object now.
func (m Move) Gives() bool { return m.From == "" }

// inputs are what every prediction of one plan reads.
type inputs struct {
	// verified is the last sync's record; nil dry-runs every object.
	verified map[string]string
	// holders maps a group to its entries' keys and the desired object
	// holding each.
	holders map[string]map[string]string
	// deferred are the moves that wait for a prune (deferredMoves).
	deferred map[string]string
}

// groupOf is the group u's entries belong to, "" for none.
func groupOf(u *unstructured.Unstructured) string {
	g := u.GetAnnotations()[manifest.AnnotationGroup]
	if g == "" {
		return ""
	}
	return u.GetKind() + "/" + g
}

// holders indexes the desired entries of every group.
func holders(set *desired.Set) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, o := range set.Objects {
		g := groupOf(o.Unstructured)
		if g == "" {
			continue
		}
		if out[g] == nil {
			out[g] = map[string]string{}
		}
		for _, it := range manifest.Items(o.Unstructured) {
			out[g][it.Key] = o.GetName()
		}
	}
	return out
}

// movesMessage explains an update that gives entries away.
func movesMessage(moves []Move) string {
	parts := make([]string, len(moves))
	for i, m := range moves {
		if m.Gives() {
			parts[i] = m.Item.Noun + " " + m.Item.Key + " moves to " + m.To
		} else {
			parts[i] = m.Item.Noun + " " + m.Item.Key + " stays in " + m.From + " until the pending removals here are pruned"
		}
	}
	return strings.Join(parts, "; ")
}

// deferredMoves finds the entries that cannot move yet, by group and key
// ("group\x00key") to the name of the object holding them live. An object
// receiving entries from others of its group while it keeps entries awaiting
// prune can pass its list's limit (15 rules): removing a model from a full
// route group moves the next shard's first rule in while the removed rule
// still waits for approval. The entries that do not fit stay where they are
// until the prune has made room.
func deferredMoves(set *desired.Set, live map[manifest.ID]*unstructured.Unstructured, held map[string]map[string]string) map[string]string {
	liveHeld := map[string]map[string]string{}
	for _, o := range set.Objects {
		g, l := groupOf(o.Unstructured), live[o.ID()]
		if g == "" || l == nil {
			continue
		}
		if liveHeld[g] == nil {
			liveHeld[g] = map[string]string{}
		}
		for _, it := range manifest.Items(l) {
			liveHeld[g][it.Key] = o.GetName()
		}
	}
	out := map[string]string{}
	for _, o := range set.Objects {
		g, l := groupOf(o.Unstructured), live[o.ID()]
		list, ok := manifest.ItemListFor(o.Unstructured)
		if g == "" || l == nil || !ok || list.Max == 0 {
			continue
		}
		here := map[string]bool{}
		pending := 0
		for _, it := range manifest.Items(l) {
			here[it.Key] = true
			if _, desired := held[g][it.Key]; !desired {
				pending++
			}
		}
		want := manifest.Items(o.Unstructured)
		var incoming []string
		for _, it := range want {
			if from, ok := liveHeld[g][it.Key]; ok && !here[it.Key] && from != o.GetName() {
				incoming = append(incoming, it.Key)
			}
		}
		room := max(list.Max-(len(want)-len(incoming)+pending), 0)
		for _, k := range incoming[min(room, len(incoming)):] {
			out[g+"\x00"+k] = liveHeld[g][k]
		}
	}
	return out
}

// overfull explains a shared object that would pass its list's limit (an
// AIGatewayRoute's 15 rules), counting the entries kept for the prune, or is
// empty. The API server would refuse it with only the count.
func overfull(p Prediction) string {
	list, ok := manifest.ItemListFor(p.Applied)
	n := len(manifest.Items(p.Applied))
	if !ok || list.Max == 0 || n <= list.Max {
		return ""
	}
	msg := fmt.Sprintf("would hold %d %ss, more than the %d the API server accepts", n, list.Noun, list.Max)
	if len(p.Pending) == 0 {
		return msg + ": move models to another route group (spec.route)"
	}
	keys := make([]string, len(p.Pending))
	for i, it := range p.Pending {
		keys[i] = it.Key
	}
	return fmt.Sprintf("%s: %d of them (%s) are removed from the tree and kept until an approved prune. "+
		"Prune them first (modelsync diff --plan-out plan.json, then modelsync prune --plan plan.json), then sync",
		msg, len(keys), strings.Join(keys, ", "))
}
