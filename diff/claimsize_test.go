package diff

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// madeBy finds exactly the templates whose Made holds for a claim, over
// many seeded names built from the same few pieces, so that prefixes
// collide (template "a" of StatefulSet "b-c" and template "a-b" of "c"
// both make "a-b-c-0"), ordinals have leading zeros or letters, and
// dashes end names.
func TestMadeByIsMade(t *testing.T) {
	pieces := []string{"a", "b", "a-b", "b-c", "c", "vol", "x-1", "0", ""}
	ordinals := []string{"0", "1", "07", "12", "", "x", "1a", "-1"}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	for seed := range 2000 {
		var templates []ClaimTemplate
		for range 1 + r.IntN(6) {
			templates = append(templates, ClaimTemplate{Name: pick(pieces), StatefulSet: pick(pieces)})
		}
		made := madeBy(templates)
		for range 20 {
			claim := strings.Join([]string{pick(pieces), pick(pieces), pick(ordinals)}, "-")
			var want []ClaimTemplate
			for _, tm := range templates {
				if tm.Made(claim) {
					want = append(want, tm)
				}
			}
			got := made(claim)
			if !slices.EqualFunc(want, got, func(a, b ClaimTemplate) bool { return a.Name == b.Name && a.StatefulSet == b.StatefulSet }) {
				t.Fatalf("seed %d, claim %q, templates %v: madeBy gives %v, Made holds for %v", seed, claim, templates, got, want)
			}
		}
	}
}
