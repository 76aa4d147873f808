// Package diff compares the desired set with the live inventory and returns a
// Plan. It never writes to the cluster: every prediction is a server-side
// dry-run apply.
package diff

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/tree/manifest"
)

// Action is what a sync or prune would do with one object or entry.
type Action string

const (
	Create    Action = "create"
	Update    Action = "update"
	Unchanged Action = "unchanged"
	// Adopt is an object that exists without our label; taken only with --adopt.
	Adopt Action = "adopt"
	// Prune is a member of the set that is no longer desired.
	Prune Action = "prune"
	// PruneItem is a rule or targetRef removed from a shared object.
	PruneItem Action = "prune-item"
	// Conflict is an update that overwrites fields another manager owns.
	Conflict Action = "conflict"
	// Error is an object the API server refused in the dry run.
	Error Action = "error"
	// Replace is a change the API server forbids in place (an immutable
	// field, an API group move): a removal, which sync never does; the
	// approved prune deletes the object and creates it again.
	Replace Action = "replace"
	// Recreate is an update that replaces the only serving pod of a model
	// in place (no room for a surge): the model is down while the new pod
	// starts. Like a replace, sync leaves it and the approved prune job
	// applies it, bound to the live object's uid and content and to the
	// configuration approved.
	Recreate Action = "recreate"
	// Terminating is an object being deleted, held by finalizers: sync does
	// not write it, prune has nothing left to do with it.
	Terminating Action = "terminating"
	// Held is an update whose new revision already failed to start
	// (inventory.AnnotationFailedRevision): the old revision keeps serving,
	// and sync does not try the same revision again until the Model
	// changes, or sync --retry-failed.
	Held Action = "held"
	// Resize is a claim of a StatefulSet smaller than its claim template
	// asks: sync raises its request, which its StorageClass must allow.
	Resize Action = "resize"
)

// Change is one entry of a plan.
type Change struct {
	Action     Action `json:"action"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Origin     string `json:"origin,omitempty"`
	// Model is the Model that generates the object (its model label); empty
	// for shared and hand-written objects and entries removed from them.
	Model string `json:"model,omitempty"`
	// UID and ResourceVersion of the live object, for prunes and prune-items
	// (the owner's). The resourceVersion is informative: a removal is bound
	// to the uid and Digest, so status written by a controller between the
	// plan and the prune does not make the approval stale.
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Digest binds a removal to what it removes: for a prune, the object's
	// content without status and the server's bookkeeping (ContentDigest);
	// for a prune-item, the entry itself (EntryDigest).
	Digest string `json:"digest,omitempty"`
	// NeverApplied marks a member that carries the set's label but that
	// modelsync never applied (no modelsync field manager): someone else
	// labeled it. Prune refuses it without explicit consent.
	NeverApplied bool `json:"neverApplied,omitempty"`
	// Claims are the PersistentVolumeClaims of a pruned StatefulSet: kept by
	// prune unless it is told to delete them, and then only these.
	Claims []Claim `json:"claims,omitempty"`
	// Finalizers hold a terminating object.
	Finalizers []string `json:"finalizers,omitempty"`
	// Item is the removed entry of a prune-item.
	Item *ItemRef `json:"item,omitempty"`
	// Diff is a unified YAML diff, live → predicted, with Secret values masked.
	Diff string `json:"diff,omitempty"`
	// Conflicts are the fields of a conflict that other field managers own,
	// and who owns them: a sync takes them over.
	Conflicts []string `json:"conflicts,omitempty"`
	// Added are fields a person's imperative write added to the object
	// (kubectl edit, patch, …) that the tree does not have, each with its
	// manager; TakeFrom are those managers. A sync takes their fields over
	// and applies without them.
	Added    []string `json:"added,omitempty"`
	TakeFrom []string `json:"takeFrom,omitempty"`
	// Immutable names what a replace changes that cannot change in place.
	Immutable []string `json:"immutable,omitempty"`
	// Owners are the field managers holding an object to adopt.
	Owners []string `json:"owners,omitempty"`
	// Message explains an error, a conflict or a kept object.
	Message string `json:"message,omitempty"`
	// Drift marks a change the baseline revision's plan has too: the cluster
	// already differs from it, independent of the change under review.
	Drift bool `json:"drift,omitempty"`
}

// Claim is a PersistentVolumeClaim a pruned StatefulSet created from its
// volumeClaimTemplates.
type Claim struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// ItemRef names an entry inside a shared object.
type ItemRef struct {
	Noun string `json:"noun"`
	Key  string `json:"key"`
}

// Plan is the contract between the diff job and the prune job.
type Plan struct {
	Revision  string `json:"revision,omitempty"`
	Dirty     bool   `json:"dirty,omitempty"`
	Namespace string `json:"namespace"`
	Inventory string `json:"inventory"`
	// Rollbacks is the inventory's count of rollbacks when the plan was
	// made: a prune refuses the plan once the namespace was rolled back.
	Rollbacks int      `json:"rollbacks,omitempty"`
	Changes   []Change `json:"changes"`
	Warnings  []string `json:"warnings,omitempty"`
	// Verified counts the unchanged objects whose fingerprint matched the
	// last sync's record, so they were not dry-run (Options.Full).
	Verified int `json:"verified,omitempty"`
	// Requests is how many API requests computing the plan took.
	Requests int64 `json:"requests,omitempty"`
	// Baseline is the revision drift was measured against (MarkDrift).
	Baseline string `json:"baseline,omitempty"`
	// Models are the Models the plan touches, with their GPUs before and
	// after; GPUs the namespace's GPU requests before and after the plan.
	Models []ModelChange `json:"models,omitempty"`
	// CapacityUnchecked says why the plan could not read the cluster's
	// capacity; "" when it did, or had nothing to place.
	CapacityUnchecked string     `json:"capacityUnchecked,omitempty"`
	GPUs              []GPUTotal `json:"gpus,omitempty"`
	// Unowned are the changes of objects that belong to no one Model (shared
	// routes and policies, their entries, hand-written objects): "action Kind name".
	Unowned []string `json:"unowned,omitempty"`
}

// MarkDrift marks the changes that base, the plan of the baseline revision
// (the merge request's target), has as well: the same action on the same
// object or entry with the same diff. What is left unmarked comes from the
// change under review.
func (p *Plan) MarkDrift(base *Plan) {
	type driftKey struct {
		action     Action
		id         manifest.ID
		diff, item string
	}
	key := func(c Change) driftKey {
		k := driftKey{action: c.Action, id: c.ID(), diff: c.Diff}
		if c.Item != nil {
			k.item = c.Item.Key
		}
		return k
	}
	seen := map[driftKey]bool{}
	for _, c := range base.Changes {
		if c.Action != Unchanged {
			seen[key(c)] = true
		}
	}
	for i := range p.Changes {
		p.Changes[i].Drift = p.Changes[i].Action != Unchanged && seen[key(p.Changes[i])]
	}
	p.Baseline = base.Revision
}

// Report is the summary GitLab's merge request widget reads from an
// artifacts:reports:terraform file.
type Report struct {
	Create int `json:"create"`
	Update int `json:"update"`
	Delete int `json:"delete"`
}

// Report counts what the API server would see: creations, updates
// (including adoptions, conflicts and the removal of a rule or targetRef,
// which is a write of the object that holds it) and object deletions.
func (p *Plan) Report() Report {
	n := p.Counts()
	return Report{Create: n[Create] + n[Replace], Update: n[Update] + n[Conflict] + n[Adopt] + n[PruneItem] + n[Resize] + n[Recreate], Delete: n[Prune] + n[Replace]}
}

// Counts tallies the plan by action.
func (p *Plan) Counts() map[Action]int {
	c := map[Action]int{}
	for _, ch := range p.Changes {
		c[ch.Action]++
	}
	return c
}

// HasChanges reports whether a sync or prune would change anything.
func (p *Plan) HasChanges() bool {
	for _, ch := range p.Changes {
		if ch.Action != Unchanged {
			return true
		}
	}
	return false
}

// HasErrors reports whether any object failed its dry run.
func (p *Plan) HasErrors() bool { return p.Counts()[Error] > 0 }

// Removals are the prunes, prune-items and replacements, the part of a plan
// a person approves.
func (p *Plan) Removals() []Change {
	var out []Change
	for _, ch := range p.Changes {
		if ch.Action == Prune || ch.Action == PruneItem || ch.Action == Replace || ch.Action == Recreate {
			out = append(out, ch)
		}
	}
	return out
}

// ID is the object identity of the change.
func (c Change) ID() manifest.ID {
	gv, _ := schema.ParseGroupVersion(c.APIVersion)
	return manifest.ID{Group: gv.Group, Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}
}
