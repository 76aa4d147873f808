package sync

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/manifest"
)

// statefulSetClaims finds the PersistentVolumeClaims that the pruned
// StatefulSets created from their volumeClaimTemplates
// (<template>-<statefulset>-<ordinal>), and deletes them when asked. The
// StatefulSet controller keeps them by default, and so does modelsync:
// re-downloading model weights is slow.
func statefulSetClaims(ctx context.Context, c *cluster.Clients, pruned []Pruned, members []unstructured.Unstructured, remove bool) ([]string, error) {
	live := map[manifest.ID]*unstructured.Unstructured{}
	for i := range members {
		live[manifest.IDOf(&members[i])] = &members[i]
	}
	var patterns []*regexp.Regexp
	var namespace string
	for _, p := range pruned {
		sts := live[p.Change.ID()]
		if p.Change.Action != diff.Prune || p.Change.Kind != "StatefulSet" || p.Err != nil || sts == nil {
			continue
		}
		namespace = sts.GetNamespace()
		templates, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
		for _, t := range templates {
			name, _, _ := unstructured.NestedString(t.(map[string]any), "metadata", "name")
			patterns = append(patterns, regexp.MustCompile("^"+regexp.QuoteMeta(name+"-"+sts.GetName()+"-")+"[0-9]+$"))
		}
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	list, err := c.Core.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the claims of pruned StatefulSets: %w", err)
	}
	var names []string
	var errs []error
	for _, pvc := range list.Items {
		for _, re := range patterns {
			if !re.MatchString(pvc.Name) {
				continue
			}
			names = append(names, pvc.Name)
			if remove {
				err := c.Core.CoreV1().PersistentVolumeClaims(namespace).Delete(ctx, pvc.Name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("PersistentVolumeClaim %s/%s: delete: %w", namespace, pvc.Name, err))
				}
			}
			break
		}
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}
