// Removals: the part of a plan a person approves. Each is bound to what it
// removes, an object by uid and content digest, an entry by its owner's uid
// and the entry itself, never to the server's resourceVersion, which changes
// every time a controller writes status.

package diff

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

// ContentDigest digests what a person approves when approving an object's
// deletion: its uid and content, without status and without the server's
// counters, timestamps and field ownership. A controller writing status does
// not change it; a hand edit, a changed spec, label or annotation does.
func ContentDigest(u *unstructured.Unstructured) string {
	return digest(content(u))
}

// EntryDigest digests one entry of a shared object (a rule, a targetRef).
func EntryDigest(entry map[string]any) string { return digest(entry) }

func digest(v any) string {
	h := sha256.New()
	// Encoding maps of JSON values cannot fail; a failed encoding would only
	// fail to match.
	_ = json.NewEncoder(h).Encode(v)
	return sum(h)
}

func applied(m *unstructured.Unstructured) bool {
	_, ok := inventory.ApplyEntry(m)
	return ok
}

func prune(m *unstructured.Unstructured) Change {
	c := changeOf(Prune, m)
	c.UID, c.ResourceVersion, c.Digest = string(m.GetUID()), m.GetResourceVersion(), ContentDigest(m)
	switch {
	case m.GetAnnotations()[inventory.AnnotationPrune] == "disabled":
		c.Action = Unchanged
		c.Message = "no longer in the tree, kept: annotated " + inventory.AnnotationPrune + ": disabled"
	case m.GetDeletionTimestamp() != nil:
		terminating(&c, m)
	case !applied(m):
		c.NeverApplied = true
		c.Message = "carries this set's label, but modelsync never applied it (no " + inventory.FieldManager + " field manager): someone else labeled it"
	}
	return c
}

// terminating marks c as an object being deleted, with what holds it.
func terminating(c *Change, live *unstructured.Unstructured) {
	c.Action, c.Finalizers = Terminating, live.GetFinalizers()
	c.Message = "being deleted since " + live.GetDeletionTimestamp().UTC().Format("2006-01-02T15:04:05Z")
	if len(c.Finalizers) > 0 {
		c.Message += ", held by finalizers " + strings.Join(c.Finalizers, ", ")
	}
}

func pruneItem(p Prediction, it gateway.Item) Change {
	c := changeOf(PruneItem, p.Live)
	c.Origin = p.Object.Origin.String()
	c.UID, c.ResourceVersion = string(p.Live.GetUID()), p.Live.GetResourceVersion()
	c.Digest = EntryDigest(it.Value)
	c.Item = &ItemRef{Noun: it.Noun, Key: it.Key}
	return c
}

// claimTemplates are where a workload kind keeps the claim templates its
// pods' claims are made from, and claimOrdinal how the claims are numbered:
// a StatefulSet's <template>-<statefulset>-<ordinal>; a LeaderWorkerSet's
// controller makes a leader StatefulSet named like it (claims
// <template>-<lws>-<group>) and a worker StatefulSet per group, <lws>-<group>
// (claims <template>-<lws>-<group>-<worker>).
var (
	claimTemplates = map[string][]string{
		"StatefulSet":                 {"spec", "volumeClaimTemplates"},
		workload.LeaderWorkerSet.Kind: {"spec", "leaderWorkerTemplate", "volumeClaimTemplates"},
	}
	claimOrdinal = map[string]string{"StatefulSet": "[0-9]+", workload.LeaderWorkerSet.Kind: "[0-9]+(-[0-9]+)?"}
)

// HasClaims reports whether a pruned object of kind leaves claims behind.
func HasClaims(kind string) bool {
	_, ok := claimTemplates[kind]
	return ok
}

// addClaims lists, on each StatefulSet or LeaderWorkerSet prune, the claims
// its pods got from its claim templates: deleting them is part of what a
// person approves.
func (d *Differ) addClaims(ctx context.Context, changes []Change, members []unstructured.Unstructured) error {
	live := map[manifest.ID]*unstructured.Unstructured{}
	for i := range members {
		live[manifest.IDOf(&members[i])] = &members[i]
	}
	type target struct {
		change   *Change
		patterns []*regexp.Regexp
	}
	var targets []target
	for i := range changes {
		c := &changes[i]
		obj := live[c.ID()]
		path, ok := claimTemplates[c.Kind]
		if c.Action != Prune || !ok || obj == nil {
			continue
		}
		templates, _, _ := unstructured.NestedSlice(obj.Object, path...)
		t := target{change: c}
		for _, tpl := range templates {
			m, _ := tpl.(map[string]any)
			name, _, _ := unstructured.NestedString(m, "metadata", "name")
			if name != "" {
				t.patterns = append(t.patterns, regexp.MustCompile("^"+regexp.QuoteMeta(name+"-"+obj.GetName()+"-")+claimOrdinal[c.Kind]+"$"))
			}
		}
		if len(t.patterns) > 0 {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	claims, err := d.r.List(ctx, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), d.inv.Namespace, "")
	if err != nil {
		return fmt.Errorf("list the claims of pruned StatefulSets: %w", err)
	}
	for _, t := range targets {
		for _, pvc := range claims {
			for _, re := range t.patterns {
				if re.MatchString(pvc.GetName()) {
					t.change.Claims = append(t.change.Claims, Claim{Name: pvc.GetName(), UID: string(pvc.GetUID())})
					break
				}
			}
		}
		sort.Slice(t.change.Claims, func(i, j int) bool { return t.change.Claims[i].Name < t.change.Claims[j].Name })
	}
	return nil
}
