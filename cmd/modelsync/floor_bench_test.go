package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/kubetest"
)

// floorConcurrency are the concurrencies the dry-run floor is measured at.
var floorConcurrency = []int{4, 8, 16, 32, 64}

// floor is the API server's own cost of dry-running every object of a
// rendered tree: each sent once, pre-encoded, by a bare client whose
// answers are not decoded, at each of floorConcurrency, in two rounds
// (ascending, then descending, so neither end always runs on a warmer
// server), the faster of the two counting. Best is the concurrency that
// took least; its time is what a --full plan cannot beat.
type floor struct {
	Objects int             `json:"objects"`
	Seconds map[int]float64 `json:"seconds"`
	Best    int             `json:"bestConcurrency"`
}

func dryRunFloor(b *testing.B, objectsFile, namespace string) floor {
	b.Helper()
	c, err := cluster.New(kubetest.Config(b))
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(objectsFile)
	if err != nil {
		b.Fatal(err)
	}
	type request struct {
		path string
		body []byte
	}
	var requests []request
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil || len(u.Object) == 0 {
			continue
		}
		u.SetNamespace(namespace)
		gvk := u.GroupVersionKind()
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			b.Fatal(err)
		}
		prefix := "/apis/" + m.Resource.Group + "/" + m.Resource.Version
		if m.Resource.Group == "" {
			prefix = "/api/" + m.Resource.Version
		}
		body, err := json.Marshal(u.Object)
		if err != nil {
			b.Fatal(err)
		}
		requests = append(requests, request{prefix + "/namespaces/" + namespace + "/" + m.Resource.Resource + "/" + u.GetName(), body})
	}
	f := floor{Objects: len(requests), Seconds: map[int]float64{}}
	client := c.Core.Discovery().RESTClient()
	backward := slices.Clone(floorConcurrency)
	slices.Reverse(backward)
	order := append(slices.Clone(floorConcurrency), backward...)
	for _, n := range order {
		var g errgroup.Group
		g.SetLimit(n)
		start := time.Now()
		for _, r := range requests {
			g.Go(func() error {
				_, err := client.Patch(types.ApplyPatchType).AbsPath(r.path).
					Param("dryRun", "All").Param("fieldManager", "modelsync").Param("force", "true").Param("fieldValidation", "Strict").
					SetHeader("Accept", "application/json").Body(r.body).DoRaw(b.Context())
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatalf("dry-run at concurrency %d: %v", n, err)
		}
		if took := time.Since(start).Seconds(); f.Seconds[n] == 0 || took < f.Seconds[n] {
			f.Seconds[n] = took
		}
	}
	f.Best = slices.MinFunc(floorConcurrency, func(x, y int) int {
		return cmpFloat(f.Seconds[x], f.Seconds[y])
	})
	return f
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (f floor) String() string {
	s := fmt.Sprintf("dry-run floor, %d objects:", f.Objects)
	for _, n := range floorConcurrency {
		s += fmt.Sprintf(" %d at once %.2fs;", n, f.Seconds[n])
	}
	return s + fmt.Sprintf(" best %d", f.Best)
}
