package main

import (
	"errors"
	"strings"
	"testing"

	"modelsync.dev/modelsync/internal/testing/mdtest"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/validation"
)

// The note of a plan that could not be made shows the tree's problems and
// the error as code, whatever the file names and messages hold: a file name
// with a line break and a fence cannot close the block and write markdown,
// a mention or a quick action into the note.
func TestFailureNoteKeepsTreeTextInCode(t *testing.T) {
	const evil = "models-config/x.yaml\n```\n### No changes HOSTILE\r/approve HOSTILE\n@all HOSTILE <details> ````` HOSTILE"
	for name, err := range map[string]error{
		"tree errors": &treeErrors{diagnostics: []validation.Diagnostic{{
			Severity: validation.Error, Rule: "schema", Origin: manifest.Origin{File: evil, Line: 3}, Object: "Model " + evil, Message: evil,
		}}},
		"plan error": errors.New("read " + evil),
	} {
		note := failureNote("modelsync-plan namespace=nrp-llm inventory=modelsync", "nrp-llm", err)
		if outside := mdtest.OutsideCode(note); strings.Contains(outside, "HOSTILE") {
			t.Errorf("%s: tree text outside code:\n%s\nnote:\n%s", name, outside, note)
		}
		if !strings.Contains(note, "/approve HOSTILE") {
			t.Errorf("%s: the note lost the problem's text:\n%s", name, note)
		}
	}
}
