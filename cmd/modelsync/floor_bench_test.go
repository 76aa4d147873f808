package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// floor is the API server's own cost of server-side applies of every
// object of a rendered tree: each sent once, pre-encoded, by a bare client
// whose answers are not decoded, at each of its concurrencies. Best is the
// concurrency that took least; its time is what modelsync cannot beat.
type floor struct {
	What    string          `json:"what"`
	Objects int             `json:"objects"`
	Seconds map[int]float64 `json:"seconds"`
	// DryRunSeconds, of a first sync's floor: its dry-run pass.
	DryRunSeconds map[int]float64 `json:"dryRunSeconds,omitempty"`
	Best          int             `json:"bestConcurrency"`
	concurrency   []int
}

// dryRunFloor bounds --full: every object dry-run against the existing
// ones, in two rounds (ascending, then descending, so neither end always
// runs on a warmer server), the faster of the two counting.
func dryRunFloor(b *testing.B, objectsFile, namespace string) floor {
	b.Helper()
	s := newSender(b, objectsFile)
	f := floor{What: "dry-run", Objects: len(s.objects), Seconds: map[int]float64{}, concurrency: floorConcurrency}
	backward := slices.Clone(floorConcurrency)
	slices.Reverse(backward)
	for _, n := range append(slices.Clone(floorConcurrency), backward...) {
		if took := s.pass(namespace, n, true); f.Seconds[n] == 0 || took < f.Seconds[n] {
			f.Seconds[n] = took
		}
	}
	return f.withBest()
}

// firstSyncFloor bounds a first sync as modelsync makes it: every object
// dry-run (at diff's concurrency), then every object created, at each of
// firstSyncConcurrency for the creates, each in a namespace of its own.
func firstSyncFloor(b *testing.B, objectsFile string) floor {
	b.Helper()
	s := newSender(b, objectsFile)
	f := floor{What: "first-sync (dry-runs, then applies)", Objects: len(s.objects), Seconds: map[int]float64{},
		DryRunSeconds: map[int]float64{}, concurrency: firstSyncConcurrency}
	for _, n := range firstSyncConcurrency {
		ns := kubetest.Namespace(b)
		f.DryRunSeconds[n] = s.pass(ns, diff.DefaultOptions().Concurrency, true)
		f.Seconds[n] = f.DryRunSeconds[n] + s.pass(ns, n, false)
	}
	return f.withBest()
}

// floorConcurrency are the concurrencies the dry-run floor is measured at;
// firstSyncConcurrency those of the first sync's creates, fewer, as each
// creates every object anew.
var (
	floorConcurrency     = []int{4, 8, 16, 32, 64}
	firstSyncConcurrency = []int{4, 16, 64}
)

func (f floor) withBest() floor {
	f.Best = slices.MinFunc(f.concurrency, func(x, y int) int { return cmpFloat(f.Seconds[x], f.Seconds[y]) })
	return f
}

// best is the floor's time at its best concurrency.
func (f floor) best() float64 { return f.Seconds[f.Best] }

// sender sends a rendered tree's objects as bare server-side applies.
type sender struct {
	b       *testing.B
	c       *cluster.Clients
	objects []*unstructured.Unstructured
}

func newSender(b *testing.B, objectsFile string) *sender {
	c, err := cluster.New(kubetest.Config(b))
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(objectsFile)
	if err != nil {
		b.Fatal(err)
	}
	s := &sender{b: b, c: c}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil || len(u.Object) == 0 {
			continue
		}
		s.objects = append(s.objects, &u)
	}
	return s
}

// pass applies (or dry-runs) every object in namespace, n at once, and
// says how long it took; the requests are encoded before the clock starts.
func (s *sender) pass(namespace string, n int, dryRun bool) float64 {
	type request struct {
		path string
		body []byte
	}
	var requests []request
	for _, u := range s.objects {
		u.SetNamespace(namespace)
		gvk := u.GroupVersionKind()
		m, err := s.c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			s.b.Fatal(err)
		}
		prefix := "/apis/" + m.Resource.Group + "/" + m.Resource.Version
		if m.Resource.Group == "" {
			prefix = "/api/" + m.Resource.Version
		}
		body, err := json.Marshal(u.Object)
		if err != nil {
			s.b.Fatal(err)
		}
		requests = append(requests, request{prefix + "/namespaces/" + namespace + "/" + m.Resource.Resource + "/" + u.GetName(), body})
	}
	client := s.c.Core.Discovery().RESTClient()
	var g errgroup.Group
	g.SetLimit(n)
	start := time.Now()
	for _, r := range requests {
		g.Go(func() error {
			req := client.Patch(types.ApplyPatchType).AbsPath(r.path).
				Param("fieldManager", "modelsync").Param("force", "true").Param("fieldValidation", "Strict")
			if dryRun {
				req = req.Param("dryRun", "All")
			}
			_, err := req.SetHeader("Accept", "application/json").Body(r.body).DoRaw(s.b.Context())
			return err
		})
	}
	if err := g.Wait(); err != nil {
		s.b.Fatalf("dry-run %t at concurrency %d: %v", dryRun, n, err)
	}
	return time.Since(start).Seconds()
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
	s := fmt.Sprintf("%s floor, %d objects:", f.What, f.Objects)
	for _, n := range f.concurrency {
		s += fmt.Sprintf(" %d at once %.2fs;", n, f.Seconds[n])
		if d, ok := f.DryRunSeconds[n]; ok {
			s = strings.TrimSuffix(s, ";") + fmt.Sprintf(" (dry-runs %.2fs);", d)
		}
	}
	return s + fmt.Sprintf(" best %d", f.Best)
}
