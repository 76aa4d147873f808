package mrnote_test

import (
	"fmt"
	"strings"
	"testing"

	"modelsync.dev/modelsync/internal/testing/gitlabtest"
	"modelsync.dev/modelsync/report/mrnote"
)

const marker = "modelsync-plan namespace=nrp-llm inventory=modelsync"

func target(s *gitlabtest.Server) mrnote.Target {
	return mrnote.Target{APIURL: s.APIURL(), Project: s.Project, MergeRequest: s.MergeRequest, Token: s.Token, TokenVariable: "MODELSYNC_GITLAB_TOKEN"}
}

func TestFirstRunCreatesSecondUpdatesSameNote(t *testing.T) {
	s := gitlabtest.New(t, "glpat-secret", "42", 7)
	human := s.Add("alice", "LGTM, but see the plan")
	for i := range 130 { // the sticky note ends up on the second page
		s.Add("bob", fmt.Sprintf("comment %d", i))
	}
	other := s.Add("project_bot", "<!-- modelsync-plan namespace=staging inventory=modelsync -->\nanother target")

	first, err := mrnote.Upsert(t.Context(), target(s), marker, "<!-- "+marker+" -->\nplan one", mrnote.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	second, err := mrnote.Upsert(t.Context(), target(s), marker, "<!-- "+marker+" -->\nplan two", mrnote.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || second.Created || first.NoteID != second.NoteID {
		t.Errorf("first %+v, second %+v: want one note created, then updated in place", first, second)
	}
	notes := s.Notes()
	if len(notes) != 133 {
		t.Fatalf("%d notes, want 133 (132 others + 1 sticky)", len(notes))
	}
	for _, n := range notes {
		switch n.ID {
		case first.NoteID:
			if !strings.HasSuffix(n.Body, "plan two") {
				t.Errorf("sticky note body %q", n.Body)
			}
		case human.ID:
			if n.Body != "LGTM, but see the plan" {
				t.Errorf("a human's note was changed: %q", n.Body)
			}
		case other.ID:
			if !strings.HasSuffix(n.Body, "another target") {
				t.Errorf("another target's note was changed: %q", n.Body)
			}
		}
	}
	for i, tok := range s.Tokens {
		if tok != "glpat-secret" {
			t.Errorf("request %s carried PRIVATE-TOKEN %q", s.Requests[i], tok)
		}
	}
	if got := s.Requests[len(s.Requests)-1]; got != fmt.Sprintf("PUT /api/v4/projects/42/merge_requests/7/notes/%d", first.NoteID) {
		t.Errorf("last request %q, want the PUT of the sticky note", got)
	}
}

func TestAPIErrorsSayWhatToDo(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*mrnote.Target, *gitlabtest.Server)
		want     string
		requests int
	}{
		{"401 bad token", func(tg *mrnote.Target, _ *gitlabtest.Server) { tg.Token = "expired" },
			"401 Unauthorized}: the token in MODELSYNC_GITLAB_TOKEN is missing, expired or revoked", 1},
		{"404 wrong project", func(tg *mrnote.Target, _ *gitlabtest.Server) { tg.Project = "41" },
			"404 Not Found: the project or merge request does not exist, or the token in MODELSYNC_GITLAB_TOKEN cannot see it", 2},
		{"403 no role", func(_ *mrnote.Target, s *gitlabtest.Server) { s.Fail = 403 },
			"lacks the api scope or a role that may comment", 1},
		{"500 retried, then given up", func(_ *mrnote.Target, s *gitlabtest.Server) { s.Fail = 500 },
			"500 Internal Server Error}: GitLab is failing; retry the job", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := gitlabtest.New(t, "glpat-secret", "42", 7)
			tg := target(s)
			tt.change(&tg, s)
			_, err := mrnote.Upsert(t.Context(), tg, marker, "<!-- "+marker+" -->\nplan", mrnote.DefaultOptions())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "merge request !7") {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
			if len(s.Requests) != tt.requests {
				t.Errorf("%d requests (%v), want %d", len(s.Requests), s.Requests, tt.requests)
			}
			if len(s.Notes()) != 0 {
				t.Errorf("a failed run left notes: %+v", s.Notes())
			}
		})
	}
}

func TestTargetFromEnv(t *testing.T) {
	env := map[string]string{"CI_API_V4_URL": "https://gitlab.example/api/v4", "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "7", "TOKEN": "glpat"}
	got, err := mrnote.TargetFromEnv(func(k string) string { return env[k] }, "TOKEN")
	if err != nil || got.MergeRequest != 7 || got.Project != "42" || got.Token != "glpat" {
		t.Errorf("TargetFromEnv = %+v, %v", got, err)
	}
	delete(env, "CI_MERGE_REQUEST_IID")
	delete(env, "TOKEN")
	_, err = mrnote.TargetFromEnv(func(k string) string { return env[k] }, "TOKEN")
	if err == nil || !strings.Contains(err.Error(), "CI_MERGE_REQUEST_IID, TOKEN not set") || !strings.Contains(err.Error(), "CI_JOB_TOKEN cannot write notes") {
		t.Errorf("missing variables: %v", err)
	}
}

func TestBodyWithoutMarkerOrTooLongIsRefused(t *testing.T) {
	s := gitlabtest.New(t, "glpat-secret", "42", 7)
	if _, err := mrnote.Upsert(t.Context(), target(s), marker, "no marker", mrnote.DefaultOptions()); err == nil {
		t.Error("a body without its marker was posted")
	}
	long := "<!-- " + marker + " -->" + strings.Repeat("x", mrnote.MaxNoteLength)
	if _, err := mrnote.Upsert(t.Context(), target(s), marker, long, mrnote.DefaultOptions()); err == nil || !strings.Contains(err.Error(), "over GitLab's limit") {
		t.Errorf("a note over the limit: %v", err)
	}
	if len(s.Requests) != 0 {
		t.Errorf("refused bodies reached GitLab: %v", s.Requests)
	}
}

// The sticky note is the bot's own: a reply quoting the marker, written
// before the bot's note and listed first, is neither edited nor taken for
// the plan; the bot's note is updated and the other one named as ignored.
func TestNoteOfAnotherUserWithTheMarkerIsIgnored(t *testing.T) {
	s := gitlabtest.New(t, "glpat-secret", "42", 7)
	forged := s.Add("mallory", "<!-- "+marker+" -->\n### modelsync plan: No changes")
	first, err := mrnote.Upsert(t.Context(), target(s), marker, "<!-- "+marker+" -->\nplan one", mrnote.DefaultOptions())
	if err != nil {
		t.Fatalf("first push: %v", err)
	}
	quoted := s.Add("alice", "> <!-- "+marker+" -->\n> plan one\n\nwhy?")
	second, err := mrnote.Upsert(t.Context(), target(s), marker, "<!-- "+marker+" -->\nplan two", mrnote.DefaultOptions())
	if err != nil {
		t.Fatalf("second push: %v", err)
	}
	if !first.Created || second.Created || second.NoteID != first.NoteID || first.NoteID == forged.ID {
		t.Errorf("first %+v, second %+v: want the bot's own note created, then updated", first, second)
	}
	if len(second.Ignored) != 2 || second.Ignored[0] != (mrnote.IgnoredNote{ID: forged.ID, Author: "mallory"}) || second.Ignored[1].ID != quoted.ID {
		t.Errorf("ignored %+v, want mallory's and alice's notes", second.Ignored)
	}
	for _, n := range s.Notes() {
		switch n.ID {
		case forged.ID:
			if !strings.HasSuffix(n.Body, "No changes") {
				t.Errorf("another user's note was edited: %q", n.Body)
			}
		case first.NoteID:
			if !strings.HasSuffix(n.Body, "plan two") {
				t.Errorf("the bot's note holds %q, want plan two", n.Body)
			}
		}
	}
}

// The sticky note follows the merge request's head: a retried job of an
// older push (its commit is not the head) leaves the newer plan in place
// and says so; the head's job writes it.
func TestOldPushLeavesTheNoteAlone(t *testing.T) {
	s := gitlabtest.New(t, "glpat-secret", "42", 7)
	s.Head = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	head := target(s)
	head.Commit = s.Head
	if _, err := mrnote.Upsert(t.Context(), head, marker, "<!-- "+marker+" -->\nplan of the head: removes minimax", mrnote.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	old := target(s)
	old.Commit = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	res, err := mrnote.Upsert(t.Context(), old, marker, "<!-- "+marker+" -->\nplan of an older push: nothing to remove", mrnote.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Head != s.Head || res.NoteID != 0 {
		t.Errorf("the old push's result %+v, want the head named and no note written", res)
	}
	notes := s.Notes()
	if len(notes) != 1 || !strings.HasSuffix(notes[0].Body, "removes minimax") {
		t.Errorf("notes after the old push: %+v, want the head's plan", notes)
	}
}
