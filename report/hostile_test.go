package report_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"modelsync.dev/modelsync/report"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/golden"
	"modelsync.dev/modelsync/internal/testing/mdtest"
)

// hostile is what a hostile merge request (or a cluster object it shaped)
// puts in a name, a file name, a GPU product or a diff: a fake heading, a
// quick action on a line of its own after \r and U+2028, a mention, a
// remote image, HTML that folds the rest of the note away, fences and pipes.
func hostile(i int) string {
	return fmt.Sprintf("f%d HOSTILE\n### No changes HOSTILE\r/approve HOSTILE\u2028@all HOSTILE ![p](https://evil.example/p.png) "+
		"<img src=https://evil.example/q.png> </details> <details><summary>x HOSTILE\n```\n/merge HOSTILE\n``` | HOSTILE \\| ` HOSTILE", i)
}

// fill sets every string in v (a pointer) to a hostile value, every slice
// to one element, every map to one hostile key and every pointer to a new
// value, except the plan's actions, which modelsync itself chooses.
func fill(v reflect.Value, n *int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := range v.Len() {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		*n++
		k := reflect.New(v.Type().Key()).Elem()
		k.SetString(hostile(*n))
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		if v.Type() == reflect.TypeOf(diff.Action("")) {
			return
		}
		*n++
		v.SetString(hostile(*n))
	case reflect.Int, reflect.Int64:
		v.SetInt(4)
	}
}

// The note renders only what the reviewer should see: every string of a
// plan that a merge request or the cluster controls, in every field, is set
// to markdown, HTML, mentions, quick actions and fences; in the note none of
// it is outside code. The golden shows the note as GitLab gets it.
func TestHostilePlanNoteShowsNothingOutsideCode(t *testing.T) {
	n := 0
	p := &diff.Plan{}
	fill(reflect.ValueOf(p), &n)
	p.Changes = nil
	for _, a := range []diff.Action{diff.Create, diff.Update, diff.Prune, diff.PruneItem, diff.Conflict, diff.Error, diff.Adopt, diff.Replace, diff.Terminating, diff.Resize} {
		c := diff.Change{}
		fill(reflect.ValueOf(&c), &n)
		c.Action = a
		p.Changes = append(p.Changes, c)
	}
	var b bytes.Buffer
	if err := report.WriteMarkdown(&b, p, report.MarkdownOptions{Marker: "modelsync-plan namespace=nrp-llm inventory=modelsync", ArtifactURL: "https://gitlab.example/job/1/artifacts"}); err != nil {
		t.Fatal(err)
	}
	if outside := mdtest.OutsideCode(b.String()); strings.Contains(outside, "HOSTILE") {
		var lines []string
		for _, l := range strings.Split(outside, "\n") {
			if strings.Contains(l, "HOSTILE") {
				lines = append(lines, l)
			}
		}
		t.Errorf("tree or cluster text outside code in the note:\n%s", strings.Join(lines, "\n"))
	}
	if n < 40 {
		t.Errorf("only %d fields were filled: the plan's strings were not all reached", n)
	}
	golden.Check(t, "../testdata/golden/report/hostile.md", b.Bytes())
}
