package diff

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The stamp's encoding tells values apart exactly when they differ: over
// seeded pairs of random JSON values, some equal and some nearly so (a
// string split across keys, an int for a float, a nil for an empty map),
// equal encodings mean equal values.
func TestCanonicalTellsValuesApart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var value func(depth int) any
	value = func(depth int) any {
		switch n := rng.IntN(9); {
		case n == 0 && depth < 4:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[[]string{"a", "ab", "b", "", "a:b", "1"}[rng.IntN(6)]] = value(depth + 1)
			}
			return m
		case n == 1 && depth < 4:
			a := make([]any, rng.IntN(3))
			for i := range a {
				a[i] = value(depth + 1)
			}
			return a
		case n == 2:
			return int64(rng.IntN(3))
		case n == 3:
			return float64(rng.IntN(3))
		case n == 4:
			return rng.IntN(2) == 0
		case n == 5:
			return nil
		default:
			return []string{"", "a", "1", "s1:a", "m0:", ":"}[rng.IntN(6)]
		}
	}
	equal, differ := 0, 0
	for i := range 200000 {
		a, b := value(0), value(0)
		if i%4 == 0 {
			b = a
		}
		same := bytes.Equal(appendCanonical(nil, a), appendCanonical(nil, b))
		if same != reflect.DeepEqual(a, b) {
			t.Fatalf("pair %d: %#v and %#v encode %s", i, a, b, map[bool]string{true: "alike", false: "apart"}[same])
		}
		if same {
			equal++
		} else {
			differ++
		}
	}
	if equal == 0 || differ == 0 {
		t.Fatalf("%d equal and %d differing pairs: the generator does not cover both", equal, differ)
	}
	t.Log(fmt.Sprintf("%d equal pairs, %d differing", equal, differ))
}
