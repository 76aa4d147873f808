package manifest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeOrigins(t *testing.T) {
	data := "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\n---   # empty\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n"
	objs, err := Decode("models-config/x.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetName()+"@"+o.Origin.String())
	}
	want := []string{"a@models-config/x.yaml:2", "b@models-config/x.yaml:9"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"scalar document", "just text\n", "x.yaml:1: a manifest must be a YAML mapping"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", "x.yaml:1: object has no apiVersion or kind"},
		{"bad indentation", "apiVersion: v1\nkind: ConfigMap\n metadata: x\n", "x.yaml:3: invalid YAML"},
		{"a Model's key twice", "apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: m\nspec:\n  server:\n    image: a\n    gpus: 1\n    image: b\n",
			`x.yaml:9: key "image" is set twice, at lines 7 and 9`},
		{"a raw object's key twice, second document", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  name: c\n",
			`x.yaml:9: key "name" is set twice, at lines 8 and 9`},
		{"top-level key twice", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n", `x.yaml:3: key "kind" is set twice, at lines 2 and 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("x.yaml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// billionLaughs expands to 9^9 strings if aliases are followed without a limit.
const billionLaughs = `apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestAliasBombRefusedWithBoundedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode("bomb.yaml", []byte(billionLaughs))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "bomb.yaml") {
		t.Fatalf("error = %v, want the alias bomb refused with its file", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("decoding the alias bomb allocated %d MiB, want under 64 MiB", grew>>20)
	}
}

func TestDecodeRefusesHugeFile(t *testing.T) {
	_, err := Decode("big.yaml", make([]byte, MaxFileSize+1))
	if err == nil || !strings.Contains(err.Error(), "big.yaml: file is") {
		t.Fatalf("error = %v", err)
	}
}

// FuzzDecode: arbitrary bytes give objects or an error, never a panic.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("../../models-config/*/*.yaml")
	more, _ := filepath.Glob("../../models-config/*.yaml")
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(billionLaughs))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode("f.yaml", data)
		for _, o := range objs {
			if o.GetKind() == "" && err == nil {
				t.Fatalf("object without kind accepted: %v", o.Object)
			}
		}
	})
}
