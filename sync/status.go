package sync

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

// MemberHealth is one inventory member's health as status shows it.
type MemberHealth struct {
	ID manifest.ID
	// Health is healthy, waiting (a rollout or a controller still to act),
	// unschedulable, not accepted / not ready (a controller's verdict) or
	// terminating.
	Health  string
	Message string
	// Ready: the member is ready (a terminating one may still be).
	Ready bool
	// Finalizers hold a terminating member.
	Finalizers []string
}

// StatusReport is the target's state: its inventory's parent and every
// member's health, in apply order.
type StatusReport struct {
	Parent  inventory.Parent
	Members []MemberHealth
}

// Unhealthy counts the members that are not ready.
func (r StatusReport) Unhealthy() int {
	n := 0
	for _, m := range r.Members {
		if !m.Ready {
			n++
		}
	}
	return n
}

// Status reads the inventory and how each member is doing: the read verb
// behind modelsync status. It writes nothing; a target never synced has a
// parent that does not exist, and no members.
func (m *Manager) Status(ctx context.Context) (StatusReport, error) {
	parent, err := m.inv.Parent(ctx)
	if err != nil || !parent.Exists {
		return StatusReport{Parent: parent}, err
	}
	members, err := m.inv.Members(ctx, inventory.Kinds(parent.GroupKinds), parent.Secrets, 16)
	if err != nil {
		return StatusReport{}, err
	}
	slices.SortFunc(members, func(a, b unstructured.Unstructured) int {
		ia, ib := manifest.IDOf(&a), manifest.IDOf(&b)
		if r := gateway.ApplyRank(ia.Kind) - gateway.ApplyRank(ib.Kind); r != 0 {
			return r
		}
		return strings.Compare(ia.String(), ib.String())
	})
	report := StatusReport{Parent: parent}
	for i := range members {
		h, err := m.memberHealth(ctx, &members[i])
		if err != nil {
			return StatusReport{}, err
		}
		report.Members = append(report.Members, h)
	}
	return report, nil
}

func (m *Manager) memberHealth(ctx context.Context, u *unstructured.Unstructured) (MemberHealth, error) {
	ok, msg := workload.Ready(u)
	h := MemberHealth{ID: manifest.IDOf(u), Health: "healthy", Message: msg, Ready: ok}
	if !ok {
		h.Health = "waiting"
		if workload.Refused(msg) {
			h.Health, h.Message, _ = strings.Cut(msg, ": ")
		}
		pods, err := m.podsOf(ctx, u)
		if err != nil {
			return MemberHealth{}, err
		}
		if why := workload.Unschedulable(pods, 0); why != "" {
			h.Health, h.Message = "unschedulable", why
		} else if why := workload.Failing(pods); why != "" {
			h.Health, h.Message = "failing", why
		}
	}
	if u.GetDeletionTimestamp() != nil {
		h.Health, h.Finalizers = "terminating", u.GetFinalizers()
	}
	if failed := u.GetAnnotations()[inventory.AnnotationFailedRevision]; failed != "" {
		h.Message = strings.TrimPrefix(h.Message+"; held at its old revision: revision "+failed+" failed to start ("+u.GetAnnotations()[inventory.AnnotationFailedReason]+")", "; ")
	}
	return h, nil
}
