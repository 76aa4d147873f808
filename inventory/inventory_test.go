package inventory_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func newInventory(t *testing.T, name string) (*inventory.Inventory, *cluster.Clients, string) {
	c, err := cluster.New(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := kubetest.Namespace(t)
	return inventory.New(c.Reader(), ns, name), c, ns
}

func TestParentRoundTripAndMembers(t *testing.T) {
	inv, c, ns := newInventory(t, inventory.DefaultName)
	if p, err := inv.Parent(t.Context()); err != nil || p.Exists {
		t.Fatalf("no parent yet: %+v %v", p, err)
	}
	gks := []schema.GroupKind{{Kind: "Service"}, {Group: "apps", Kind: "StatefulSet"}, {Group: "gone.example", Kind: "Removed"}, {Kind: "Service"}}
	if err := inv.Update(t.Context(), c, inventory.Parent{GroupKinds: gks, Revision: "abc", SyncedAt: "2026-11-21T00:00:00Z"}); err != nil {
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
	members, err := inv.Members(t.Context(), inventory.Kinds(p.GroupKinds), p.Secrets, 4)
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
	if !errors.Is(err, inventory.ErrForeignParent) || !strings.Contains(err.Error(), `managed by "kubectl/v1.32"`) || !strings.Contains(err.Error(), "choose another inventory name") {
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

// The Verified record is a cache in the parent's data: it round-trips, an
// update without it removes it, a damaged one reads as empty, and one too
// large to keep the Secret small is not written.
func TestVerifiedRecord(t *testing.T) {
	inv, c, ns := newInventory(t, inventory.DefaultName)
	read := func() map[string]string {
		t.Helper()
		p, err := inv.Parent(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return p.Verified
	}
	rec := map[string]string{"uid-1": "fp-1", "uid-2": "fp-2"}
	if err := inv.Update(t.Context(), c, inventory.Parent{Revision: "a", Verified: rec}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(rec, read()); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}
	if err := inv.Update(t.Context(), c, inventory.Parent{Revision: "b"}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != nil {
		t.Errorf("an update without a record left %v", got)
	}

	secret, err := c.Core.CoreV1().Secrets(ns).Get(t.Context(), inventory.DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{inventory.DataVerified: []byte("not gzip")}
	if _, err := c.Core.CoreV1().Secrets(ns).Update(t.Context(), secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != nil {
		t.Errorf("a damaged record read as %v", got)
	}

	big := map[string]string{}
	for i := range 40000 { // random-looking fingerprints do not compress
		big[fmt.Sprintf("uid-%d", i)] = fmt.Sprintf("%x", sha256.Sum256([]byte{byte(i), byte(i >> 8)}))
	}
	if err := inv.Update(t.Context(), c, inventory.Parent{Revision: "c", Verified: big}); err != nil {
		t.Fatalf("an oversized record failed the update instead of being left out: %v", err)
	}
	if got := read(); got != nil {
		t.Errorf("an oversized record was written (%d entries)", len(got))
	}
}
