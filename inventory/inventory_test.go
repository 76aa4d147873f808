package inventory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/kubetest"
	"modelsync.dev/modelsync/inventory"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func newInventory(t *testing.T, name string) (*inventory.Inventory, *cluster.Clients, string) {
	c, err := cluster.New(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := kubetest.Namespace(t)
	return inventory.New(c.Dynamic, c.Core, c.Mapper, ns, name), c, ns
}

func TestParentRoundTripAndMembers(t *testing.T) {
	inv, c, ns := newInventory(t, inventory.DefaultName)
	if p, err := inv.Parent(t.Context()); err != nil || p.Exists {
		t.Fatalf("no parent yet: %+v %v", p, err)
	}
	gks := []schema.GroupKind{{Kind: "Service"}, {Group: "apps", Kind: "StatefulSet"}, {Group: "gone.example", Kind: "Removed"}, {Kind: "Service"}}
	if err := inv.Update(t.Context(), inventory.Parent{GroupKinds: gks, Revision: "abc", SyncedAt: "2026-11-21T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	p, err := inv.Parent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := inventory.Parent{Exists: true, GroupKinds: []schema.GroupKind{{Group: "gone.example", Kind: "Removed"}, {Kind: "Service"}, {Group: "apps", Kind: "StatefulSet"}}, Revision: "abc", SyncedAt: "2026-11-21T00:00:00Z"}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("parent (-want +got):\n%s", d)
	}
	secret, err := c.Core.CoreV1().Secrets(ns).Get(t.Context(), inventory.DefaultName, metav1.GetOptions{})
	if err != nil || secret.Labels[inventory.LabelID] != inventory.ID(inventory.DefaultName, ns) || !strings.HasPrefix(secret.Annotations[inventory.AnnotationTooling], "modelsync/") {
		t.Errorf("parent Secret is not an ApplySet parent kubectl would read: %v %+v", err, secret.ObjectMeta)
	}

	for _, name := range []string{"member", "stranger"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		if name == "member" {
			svc.Labels = map[string]string{inventory.LabelPartOf: inv.ID()}
		}
		if _, err := c.Core.CoreV1().Services(ns).Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	members, err := inv.Members(t.Context(), p.GroupKinds, 4)
	if err != nil {
		t.Fatalf("members (with a group-kind the server no longer serves): %v", err)
	}
	if len(members) != 1 || members[0].GetName() != "member" {
		t.Errorf("members = %d objects, want only the labeled Service", len(members))
	}
}

func TestForeignParentRefused(t *testing.T) {
	inv, c, ns := newInventory(t, "shared")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shared", Labels: map[string]string{inventory.LabelID: inventory.ID("shared", ns)},
		Annotations: map[string]string{inventory.AnnotationTooling: "kubectl/v1.32"}}}
	if _, err := c.Core.CoreV1().Secrets(ns).Create(t.Context(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := inv.Parent(t.Context())
	if !errors.Is(err, inventory.ErrForeignParent) || !strings.Contains(err.Error(), `managed by "kubectl/v1.32"`) || !strings.Contains(err.Error(), "--inventory") {
		t.Errorf("Parent of kubectl's ApplySet: %v", err)
	}
}

func TestGroupKindsAnnotation(t *testing.T) {
	got := inventory.FormatGroupKinds([]schema.GroupKind{{Group: "apps", Kind: "StatefulSet"}, {Kind: "Service"}, {Group: "apps", Kind: "StatefulSet"}})
	if got != "Service,StatefulSet.apps" {
		t.Errorf("FormatGroupKinds = %q", got)
	}
	if d := cmp.Diff([]schema.GroupKind{{Kind: "Service"}, {Group: "apps", Kind: "StatefulSet"}}, inventory.ParseGroupKinds(" Service, StatefulSet.apps,")); d != "" {
		t.Errorf("ParseGroupKinds (-want +got):\n%s", d)
	}
}
