package main

import (
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

type ciRule struct {
	If           string `json:"if"`
	When         string `json:"when"`
	AllowFailure *bool  `json:"allow_failure"`
}

type ciJob struct {
	Extends       string   `json:"extends"`
	Stage         string   `json:"stage"`
	Rules         []ciRule `json:"rules"`
	Script        []string `json:"script"`
	ResourceGroup string   `json:"resource_group"`
	Interruptible *bool    `json:"interruptible"`
	Environment   struct {
		Name string `json:"name"`
	} `json:"environment"`
	Needs     []any `json:"needs"`
	Artifacts struct {
		When    string            `json:"when"`
		Paths   []string          `json:"paths"`
		Reports map[string]string `json:"reports"`
	} `json:"artifacts"`
}

func readPipeline(t *testing.T) (map[string]ciJob, []ciRule) {
	t.Helper()
	data, err := os.ReadFile("../../.gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf(".gitlab-ci.yml: %v", err)
	}
	var top struct {
		Workflow struct {
			Rules []ciRule `json:"rules"`
		} `json:"workflow"`
	}
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]ciJob{}
	for name, v := range raw {
		m, ok := v.(map[string]any)
		if _, isJob := m["script"]; !ok || !isJob {
			continue
		}
		b, _ := yaml.Marshal(v)
		var j ciJob
		if err := yaml.Unmarshal(b, &j); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
		jobs[name] = j
	}
	return jobs, top.Workflow.Rules
}

func TestPipelineTemplate(t *testing.T) {
	jobs, workflow := readPipeline(t)
	if d := cmp.Diff([]string{"diff", "drift", "plan", "prune", "sync", "validate"}, slices.Sorted(maps.Keys(jobs))); d != "" {
		t.Fatalf("jobs (-want +got):\n%s", d)
	}
	var wf []string
	for _, r := range workflow {
		wf = append(wf, r.If)
	}
	for _, want := range []string{`$CI_PIPELINE_SOURCE == "merge_request_event"`, `$CI_PIPELINE_SOURCE == "schedule"`} {
		if !slices.Contains(wf, want) {
			t.Errorf("workflow:rules lacks %s: %v", want, wf)
		}
	}
	only := func(job, cond string) {
		t.Helper()
		if r := jobs[job].Rules; len(r) != 1 || !strings.Contains(r[0].If, cond) {
			t.Errorf("%s runs on %+v, want only %s", job, r, cond)
		}
	}
	only("diff", "merge_request_event")
	only("plan", "$CI_DEFAULT_BRANCH")
	only("sync", "$CI_DEFAULT_BRANCH")
	only("prune", "$CI_DEFAULT_BRANCH")
	only("drift", "schedule")

	if got := jobs["validate"].Artifacts.Reports["junit"]; got != "validate.xml" {
		t.Errorf("validate junit report %q", got)
	}
	for _, job := range []string{"diff", "plan"} {
		a := jobs[job].Artifacts
		if a.Reports["terraform"] != "report.json" || !slices.Contains(a.Paths, "plan.json") || !slices.Contains(a.Paths, "plan.md") || a.When != "always" {
			t.Errorf("%s artifacts %+v: want plan.json, plan.md and the terraform report, kept always", job, a)
		}
	}
	if !strings.Contains(strings.Join(jobs["diff"].Script, " "), "--gitlab-note") {
		t.Error("the MR diff job does not write the MR note")
	}
	if !strings.Contains(strings.Join(jobs["drift"].Script, " "), "diff --full") {
		t.Error("the drift job trusts the last sync's record; it should dry-run every object (--full)")
	}
	for _, job := range []string{"plan", "sync", "prune"} {
		if jobs[job].ResourceGroup != "$TARGET_NAMESPACE" {
			t.Errorf("%s resource_group %q, want one per target", job, jobs[job].ResourceGroup)
		}
	}
	if s := jobs["sync"]; s.Interruptible == nil || *s.Interruptible || s.Environment.Name != "$TARGET_NAMESPACE" {
		t.Errorf("sync: interruptible %v, environment %q", s.Interruptible, s.Environment.Name)
	}
	p := jobs["prune"]
	if r := p.Rules[0]; r.When != "manual" || r.AllowFailure == nil || *r.AllowFailure {
		t.Errorf("prune gate: when %q allow_failure %v, want a manual, blocking job", r.When, r.AllowFailure)
	}
	if p.Environment.Name != "$TARGET_NAMESPACE-prune" || !strings.Contains(strings.Join(p.Script, " "), "--plan plan.json") {
		t.Errorf("prune: environment %q, script %v", p.Environment.Name, p.Script)
	}
	if !slices.ContainsFunc(p.Needs, func(n any) bool {
		m, ok := n.(map[string]any)
		return ok && m["job"] == "plan" && m["artifacts"] == true
	}) {
		t.Errorf("prune does not take the plan artifact of its pipeline: %v", p.Needs)
	}
}

// Every modelsync command line in the template parses with this CLI's flags.
func TestPipelineCommandsParse(t *testing.T) {
	jobs, _ := readPipeline(t)
	root := newRootCommand(io.Discard, io.Discard)
	for name, j := range jobs {
		for _, line := range j.Script {
			args := shellWords(line)
			if len(args) == 0 || args[0] != "modelsync" {
				continue
			}
			cmd, rest, err := root.Find(args[1:])
			if err == nil {
				err = cmd.ParseFlags(rest)
			}
			if err != nil || cmd == root {
				t.Errorf("%s: %q: %v", name, line, err)
			}
		}
	}
}

// shellWords splits a script line on blanks, honouring double quotes, up to
// a redirection or ||.
func shellWords(line string) []string {
	var out []string
	for _, f := range strings.Fields(line) {
		if f == "||" || f == ">" {
			break
		}
		out = append(out, strings.Trim(f, `"`))
	}
	return out
}
