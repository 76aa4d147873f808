// Entries inside shared objects: the rules of a route and the targetRefs of
// a policy. Entries removed from the tree are kept until an approved prune;
// entries moving between the shards of one route group move at once, unless
// the receiving shard has no room yet.

package diff

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// labeled is o labeled as a member of the set: a new object whose top
// level, metadata and labels are its own, and which shares the rest (spec,
// data, …) with o. What changes more of it copies it first.
func (d *Differ) labeled(o manifest.Object) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: maps.Clone(o.Object)}
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		u.Object["metadata"] = maps.Clone(md)
	}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[inventory.LabelPartOf] = d.inv.ID()
	u.SetLabels(labels)
	return u
}

// applied is what sync sends: the desired object labeled as a member, and
// for a shared object the live entries that await an approved prune, kept at
// their live positions. A live entry another object of its group holds in
// the tree moves there (left out here), unless the move is deferred: then it
// stays here, and the receiving object leaves it out for now.
func (d *Differ) applied(o manifest.Object, live *unstructured.Unstructured, in inputs) (*unstructured.Unstructured, []gateway.Item, []Move) {
	u := d.labeled(o)
	if live == nil {
		return u, nil, nil
	}
	if _, ok := gateway.ItemListFor(u); !ok {
		return u, nil, nil
	}
	u = u.DeepCopy() // its entries change below
	group := groupOf(o.Unstructured)
	deferredHere := func(key string) (holder string, ok bool) {
		holder, ok = in.deferred[entryKey{group: group, key: key}]
		return holder, ok
	}
	var want []gateway.Item
	var waiting []Move
	keys := map[string]bool{}
	for _, it := range gateway.Items(u) {
		if holder, ok := deferredHere(it.Key); ok && holder != o.GetName() {
			waiting = append(waiting, Move{Item: it, To: o.GetName(), From: holder})
			continue
		}
		want = append(want, it)
		keys[it.Key] = true
	}
	liveItems := gateway.Items(live)
	var pending []gateway.Item
	var moves []Move
	keep := map[string]bool{}
	for _, it := range liveItems {
		to, moving := in.holders[group][it.Key]
		_, deferred := deferredHere(it.Key)
		switch {
		case keys[it.Key]:
		case moving && deferred:
			keep[it.Key] = true
		case moving:
			moves = append(moves, Move{Item: it, To: to})
		default:
			keep[it.Key] = true
			pending = append(pending, it)
		}
	}
	if len(keep) > 0 || len(waiting) > 0 {
		_ = gateway.SetItems(u, keepInPlace(want, liveItems, keep))
	}
	return u, pending, append(moves, waiting...)
}

// keepInPlace merges the desired entries with the live ones kept (awaiting
// prune, or a deferred move), each kept entry at its live position, the
// desired ones in desired order, so that keeping an entry never shows up as a
// reordering.
func keepInPlace(want, live []gateway.Item, keep map[string]bool) []gateway.Item {
	index := make(map[string]int, len(want))
	for i, it := range want {
		index[it.Key] = i
	}
	out := make([]gateway.Item, 0, len(want)+len(live))
	next := 0
	for _, it := range live {
		if keep[it.Key] {
			out = append(out, it)
			continue
		}
		if j, ok := index[it.Key]; ok && j >= next {
			out = append(out, want[next:j+1]...)
			next = j + 1
		}
	}
	return append(out, want[next:]...)
}

// Move is an entry leaving a shared object for another object of its group
// (gateway.AnnotationGroup): the shards of one route group.
type Move struct {
	Item gateway.Item
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
	// record is the last sync's record, also when verified is nil: what it
	// applied to each object (appliedAgain).
	record map[string]string
	// holders maps a group to its entries' keys and the desired object
	// holding each.
	holders map[groupID]map[string]string
	// deferred are the moves that wait for a prune (deferredMoves), to the
	// object holding the entry live.
	deferred map[entryKey]string
	// awaiting are the keys of live rules that await the prune.
	awaiting map[string]bool
	// vouched are the members the record vouches for by their stamp.
	vouched map[manifest.ID]vouched
	// absent are desired objects known not to exist.
	absent map[manifest.ID]bool
	// autoscaled are the workloads whose replicas an autoscaler owns.
	autoscaled map[manifest.ID]string
}

// groupID names the objects sharing one list of entries (the shards of a
// route group); the zero value is no group.
type groupID struct{ kind, name string }

// entryKey is one entry of a group.
type entryKey struct {
	group groupID
	key   string
}

// groupOf is the group u's entries belong to.
func groupOf(u *unstructured.Unstructured) groupID {
	g := u.GetAnnotations()[gateway.AnnotationGroup]
	if g == "" {
		return groupID{}
	}
	return groupID{kind: u.GetKind(), name: g}
}

// holders indexes the desired entries of every group.
func holders(set *desired.Set) map[groupID]map[string]string {
	out := map[groupID]map[string]string{}
	for _, o := range set.Objects {
		g := groupOf(o.Unstructured)
		if g == (groupID{}) {
			continue
		}
		if out[g] == nil {
			out[g] = map[string]string{}
		}
		for _, it := range gateway.Items(o.Unstructured) {
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
// (entryKey) to the name of the object holding them live. An object
// receiving entries from others of its group while it keeps entries awaiting
// prune can pass its list's limit (15 rules): removing a model from a full
// route group moves the next shard's first rule in while the removed rule
// still waits for approval, or takes over the rules of a shard the tree no
// longer has. The entries that do not fit stay where they are until the prune
// has made room.
func deferredMoves(set *desired.Set, live map[manifest.ID]*unstructured.Unstructured, held map[groupID]map[string]string) map[entryKey]string {
	// Who holds each entry live: any member of the group, also a shard the
	// tree no longer has (it keeps its entries until the prune deletes it).
	var members []*unstructured.Unstructured
	for _, l := range live {
		if groupOf(l) != (groupID{}) {
			members = append(members, l)
		}
	}
	slices.SortFunc(members, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	liveHeld := map[groupID]map[string]string{}
	for _, l := range members {
		g := groupOf(l)
		if liveHeld[g] == nil {
			liveHeld[g] = map[string]string{}
		}
		for _, it := range gateway.Items(l) {
			if _, seen := liveHeld[g][it.Key]; !seen {
				liveHeld[g][it.Key] = l.GetName()
			}
		}
	}
	out := map[entryKey]string{}
	for _, o := range set.Objects {
		g, l := groupOf(o.Unstructured), live[o.ID()]
		list, ok := gateway.ItemListFor(o.Unstructured)
		if g == (groupID{}) || l == nil || !ok || list.Max == 0 {
			continue
		}
		here := map[string]bool{}
		pending := 0
		for _, it := range gateway.Items(l) {
			here[it.Key] = true
			if _, desired := held[g][it.Key]; !desired {
				pending++
			}
		}
		want := gateway.Items(o.Unstructured)
		var incoming []string
		for _, it := range want {
			if from, ok := liveHeld[g][it.Key]; ok && !here[it.Key] && from != o.GetName() {
				incoming = append(incoming, it.Key)
			}
		}
		room := max(list.Max-(len(want)-len(incoming)+pending), 0)
		for _, k := range incoming[min(room, len(incoming)):] {
			out[entryKey{group: g, key: k}] = liveHeld[g][k]
		}
	}
	return out
}

// overfull explains a shared object that would pass its list's limit (an
// AIGatewayRoute's 15 rules), counting the entries kept for the prune, or is
// empty. The API server would refuse it with only the count.
func overfull(p Prediction) string {
	list, ok := gateway.ItemListFor(p.Applied)
	n := len(gateway.Items(p.Applied))
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
		"Prune them first (approve a plan and run prune), then sync",
		msg, len(keys), strings.Join(keys, ", "))
}
