package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// component reads templates/modelsync.yml with its inputs written in, as
// GitLab does when a project includes it: the spec's defaults, and the
// given values for the others.
func component(t *testing.T, inputs map[string]string) (jobs map[string]map[string]any, text string) {
	t.Helper()
	data, err := os.ReadFile("../../templates/modelsync.yml")
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(data), "\n---\n")
	if !ok {
		t.Fatal("templates/modelsync.yml: no spec header document")
	}
	var s struct {
		Spec struct {
			Inputs map[string]struct {
				Default     any    `json:"default"`
				Type        string `json:"type"`
				Description string `json:"description"`
			} `json:"inputs"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(head), &s); err != nil {
		t.Fatalf("spec: %v", err)
	}
	values := map[string]string{}
	for name, in := range s.Spec.Inputs {
		if in.Default != nil {
			values[name] = fmt.Sprint(in.Default)
		}
	}
	for k, v := range inputs {
		values[k] = v
	}
	var missing []string
	text = regexp.MustCompile(`\$\[\[ inputs\.([a-z-]+) \]\]`).ReplaceAllStringFunc(body, func(m string) string {
		name := strings.TrimSuffix(strings.TrimPrefix(m, "$[[ inputs."), " ]]")
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		t.Fatalf("inputs used but neither declared with a default nor given: %v", missing)
	}
	if err := yaml.Unmarshal([]byte(text), &jobs); err != nil {
		t.Fatalf("the interpolated component: %v", err)
	}
	return jobs, text
}

var componentInputs = map[string]string{"namespace": "nrp-llm", "plan-context": "agents:modelsync-plan", "apply-context": "agents:modelsync"}

func scriptOf(job map[string]any) string {
	var lines []string
	for _, l := range job["script"].([]any) {
		lines = append(lines, l.(string))
	}
	return strings.Join(lines, "\n")
}

// The identities: what runs in merge requests and plans can only dry-run;
// only sync and the approved prune hold the apply identity.
func TestComponentIdentities(t *testing.T) {
	jobs, _ := component(t, componentInputs)
	for name, ctx := range map[string]string{
		"nrp-llm-diff":  "agents:modelsync-plan",
		"nrp-llm-plan":  "agents:modelsync-plan",
		"nrp-llm-drift": "agents:modelsync-plan",
		"nrp-llm-sync":  "agents:modelsync",
	} {
		job, ok := jobs[name]
		if !ok {
			t.Fatalf("no job %s", name)
		}
		s := scriptOf(job)
		if i := strings.Index(s, "cat >"); i >= 0 {
			s = s[:i] // the plan job's child pipeline, checked below
		}
		if !strings.Contains(s, `--context "`+ctx+`"`) {
			t.Errorf("%s does not run as %s:\n%s", name, ctx, s)
		}
		if ctx == "agents:modelsync-plan" && strings.Contains(s, `"agents:modelsync"`) {
			t.Errorf("%s holds the apply identity", name)
		}
	}
	// The child pipeline's prune, written by the plan job.
	plan := scriptOf(jobs["nrp-llm-plan"])
	start := strings.Index(plan, "stages: [prune]\nprune:")
	end := strings.Index(plan[start:], "EOF")
	if start < 0 || end < 0 {
		t.Fatalf("the plan job writes no prune child pipeline:\n%s", plan)
	}
	var child struct {
		Prune struct {
			Rules []struct {
				When         string `json:"when"`
				AllowFailure *bool  `json:"allow_failure"`
			} `json:"rules"`
			Environment struct {
				Name string `json:"name"`
			} `json:"environment"`
			ResourceGroup string   `json:"resource_group"`
			Script        []string `json:"script"`
		} `json:"prune"`
	}
	if err := yaml.Unmarshal([]byte(plan[start:start+end]), &child); err != nil {
		t.Fatalf("the prune child pipeline: %v", err)
	}
	p := child.Prune
	if len(p.Rules) != 1 || p.Rules[0].When != "manual" || p.Rules[0].AllowFailure == nil || *p.Rules[0].AllowFailure {
		t.Errorf("prune rules %+v: want a manual, blocking job", p.Rules)
	}
	if p.Environment.Name != "nrp-llm-prune" || p.ResourceGroup != "modelsync-nrp-llm" || !strings.Contains(strings.Join(p.Script, " "), `--context "agents:modelsync"`) {
		t.Errorf("prune: environment %q, resource group %q, script %v", p.Environment.Name, p.ResourceGroup, p.Script)
	}
}

// A target's values are written into the jobs; none is read from a variable
// a project could set (the old template's TARGET_NAMESPACE and KUBE_CONTEXT).
func TestComponentTargetNotOverridable(t *testing.T) {
	_, text := component(t, componentInputs)
	for _, v := range []string{"$TARGET_NAMESPACE", "$KUBE_CONTEXT", "${TARGET_NAMESPACE}", "${KUBE_CONTEXT}"} {
		if strings.Contains(text, v) {
			t.Errorf("the component reads %s", v)
		}
	}
}

// Every modelsync command line in the component parses with this CLI's flags.
func TestComponentCommandsParse(t *testing.T) {
	_, text := component(t, componentInputs)
	root := newRootCommand(io.Discard, io.Discard)
	n := 0
	for _, line := range commandLines(text) {
		args := shellWords(line)
		cmd, rest, err := root.Find(args[1:])
		if err == nil {
			err = cmd.ParseFlags(rest)
		}
		if err != nil || cmd == root {
			t.Errorf("%q: %v", line, err)
		}
		n++
	}
	if n != 6 { // validate, diff, plan, sync, drift, and the child's prune
		t.Errorf("found %d modelsync command lines, want 6", n)
	}
}

// commandLines are the modelsync invocations in text, folded lines joined.
func commandLines(text string) []string {
	var out []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), "- "))
		if strings.HasPrefix(l, ">-") && i+1 < len(lines) {
			var parts []string
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "      "); i++ {
				parts = append(parts, strings.TrimSpace(lines[i]))
			}
			i--
			l = strings.Join(parts, " ")
		}
		if strings.HasPrefix(l, "modelsync ") && !strings.HasPrefix(l, "modelsync version") {
			out = append(out, l)
		}
	}
	return out
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
