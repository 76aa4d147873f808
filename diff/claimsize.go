package diff

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/desired"
)

// ClaimTemplate is one claim template of a StatefulSet: the claims its pods
// get are <Name>-<statefulset>-<ordinal>, each asking Storage.
type ClaimTemplate struct {
	StatefulSet, Name string
	Storage           resource.Quantity
}

// ClaimTemplates are the claim templates of a StatefulSet.
func ClaimTemplates(sts *unstructured.Unstructured) []ClaimTemplate {
	if sts == nil || sts.GetKind() != "StatefulSet" {
		return nil
	}
	vcts, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	var out []ClaimTemplate
	for _, v := range vcts {
		m, _ := v.(map[string]any)
		name, _, _ := unstructured.NestedString(m, "metadata", "name")
		want, _, _ := unstructured.NestedString(m, "spec", "resources", "requests", "storage")
		if q, err := resource.ParseQuantity(want); err == nil && name != "" {
			out = append(out, ClaimTemplate{StatefulSet: sts.GetName(), Name: name, Storage: q})
		}
	}
	return out
}

// Made reports whether a claim of this name is one the template makes.
func (t ClaimTemplate) Made(claim string) bool {
	ordinal, ok := strings.CutPrefix(claim, t.Name+"-"+t.StatefulSet+"-")
	return ok && ordinal != "" && strings.Trim(ordinal, "0123456789") == ""
}

// madeBy indexes templates by the claims they make: a claim
// <template>-<statefulset>-<ordinal> is made by the templates of that
// prefix (Made holds for each), found in one lookup instead of a scan of
// every template for every claim.
func madeBy(templates []ClaimTemplate) func(claim string) []ClaimTemplate {
	byPrefix := map[string][]ClaimTemplate{}
	for _, t := range templates {
		p := t.Name + "-" + t.StatefulSet + "-"
		byPrefix[p] = append(byPrefix[p], t)
	}
	return func(claim string) []ClaimTemplate {
		i := strings.LastIndexByte(claim, '-')
		if i < 0 || i == len(claim)-1 || strings.Trim(claim[i+1:], "0123456789") != "" {
			return nil
		}
		return byPrefix[claim[:i+1]]
	}
}

// hasClaimTemplates reports whether any of the tree's objects is a
// StatefulSet with claim templates: the plan then lists the namespace's
// claims, beside the members.
func hasClaimTemplates(set *desired.Set) bool {
	for _, o := range set.Objects {
		if len(ClaimTemplates(o.Unstructured)) > 0 {
			return true
		}
	}
	return false
}

// listClaims lists the namespace's claims.
func (d *Differ) listClaims(ctx context.Context) ([]corev1.PersistentVolumeClaim, error) {
	claims, err := d.r.ListClaims(ctx, d.inv.Namespace)
	if err != nil {
		return nil, fmt.Errorf("list the claims of the StatefulSets: %w", err)
	}
	return claims, nil
}

// undersizedClaims are the claims of the tree's StatefulSets that request
// less than their claim template asks: the StatefulSet controller never
// resizes a claim, so a grown template (after an approved replace, or a
// claim made by hand) leaves it small. Each is a resize, so a plan is never
// clean while a claim differs from the tree. StatefulSets still to create or
// replace are left out: their claims follow them.
func undersizedClaims(preds []Prediction, claims []corev1.PersistentVolumeClaim) []Change {
	var templates []ClaimTemplate
	for _, p := range preds {
		if p.Change.Action == Create || p.Change.Action == Replace || p.Change.Action == Error {
			continue
		}
		templates = append(templates, ClaimTemplates(p.Object.Unstructured)...)
	}
	if len(templates) == 0 {
		return nil
	}
	made := madeBy(templates)
	var out []Change
	for i := range claims {
		pvc := &claims[i]
		q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if !ok || pvc.DeletionTimestamp != nil {
			continue
		}
		for _, t := range made(pvc.Name) {
			if q.Cmp(t.Storage) < 0 {
				c := Change{Action: Resize, APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: string(pvc.UID)}
				c.Message = fmt.Sprintf("requests %s; StatefulSet %s's claim template %s asks %s, and the StatefulSet controller never resizes claims: sync raises the request (its StorageClass must allow expansion)",
					q.String(), t.StatefulSet, t.Name, t.Storage.String())
				out = append(out, c)
				break
			}
		}
	}
	return out
}
