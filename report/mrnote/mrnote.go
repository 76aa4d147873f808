// Package mrnote keeps one sticky note per target on a GitLab merge request:
// found by a hidden marker among the notes the token's own user wrote,
// updated in place, never duplicated. A note of anyone else that carries the
// marker (a quote in a reply, a forgery) is never taken for it.
package mrnote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// MaxNoteLength is GitLab's limit on a note body, in characters.
const MaxNoteLength = 1_000_000

// DefaultTokenVariable holds a project access token with the api scope; the
// job token (CI_JOB_TOKEN) cannot write notes.
const DefaultTokenVariable = "MODELSYNC_GITLAB_TOKEN"

// Target is the merge request a note goes to.
type Target struct {
	// APIURL is GitLab's REST API root, CI_API_V4_URL.
	APIURL string
	// Project is CI_PROJECT_ID.
	Project string
	// MergeRequest is CI_MERGE_REQUEST_IID.
	MergeRequest int64
	// Token is a project access token.
	Token string
	// TokenVariable names where Token came from, for error messages.
	TokenVariable string
	// Commit is the commit the plan was made at (the merge request's source
	// commit: CI_MERGE_REQUEST_SOURCE_BRANCH_SHA, else CI_COMMIT_SHA). When
	// set, the note is written only while it is the merge request's head:
	// a retried job of an older push never overwrites a newer plan.
	Commit string
}

// TargetFromEnv reads the target from GitLab CI's predefined variables and
// the token from tokenVariable, naming every variable that is missing.
func TargetFromEnv(getenv func(string) string, tokenVariable string) (Target, error) {
	t := Target{APIURL: getenv("CI_API_V4_URL"), Project: getenv("CI_PROJECT_ID"), Token: getenv(tokenVariable), TokenVariable: tokenVariable,
		Commit: cmp.Or(getenv("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"), getenv("CI_COMMIT_SHA"))}
	var missing []string
	for name, v := range map[string]string{"CI_API_V4_URL": t.APIURL, "CI_PROJECT_ID": t.Project, "CI_MERGE_REQUEST_IID": getenv("CI_MERGE_REQUEST_IID"), tokenVariable: t.Token} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("GitLab MR note: %s not set; run in a merge request pipeline, and set %s to a project access token with the api scope (CI_JOB_TOKEN cannot write notes)",
			strings.Join(slices.Sorted(slices.Values(missing)), ", "), tokenVariable)
	}
	iid, err := strconv.ParseInt(getenv("CI_MERGE_REQUEST_IID"), 10, 64)
	if err != nil {
		return t, fmt.Errorf("GitLab MR note: CI_MERGE_REQUEST_IID=%q is not a number", getenv("CI_MERGE_REQUEST_IID"))
	}
	t.MergeRequest = iid
	return t, nil
}

// Result says what Upsert did.
type Result struct {
	NoteID  int64
	Created bool
	// Ignored are notes of other users that carry the marker.
	Ignored []IgnoredNote
	// Head is the merge request's head commit when it is not Target.Commit:
	// the note was left alone.
	Head string
}

// IgnoredNote is a note with the marker that the token's user did not write.
type IgnoredNote struct {
	ID     int64
	Author string
}

// Options configures the client.
type Options struct {
	// Retries of 429 and 5xx answers, with the client library's backoff.
	Retries int
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options { return Options{Retries: 3} }

// Upsert writes body as the merge request's note carrying marker: it updates
// the note that already carries it, else creates one. Notes without the
// marker are never touched.
func Upsert(ctx context.Context, t Target, marker, body string, opts Options) (Result, error) {
	if !strings.Contains(body, marker) {
		return Result{}, fmt.Errorf("GitLab MR note: the body does not carry its marker %q", marker)
	}
	if n := len([]rune(body)); n > MaxNoteLength {
		return Result{}, fmt.Errorf("GitLab MR note: %d characters, over GitLab's limit of %d", n, MaxNoteLength)
	}
	client, err := gitlab.NewClient(t.Token, gitlab.WithBaseURL(t.APIURL), gitlab.WithCustomRetryMax(opts.Retries))
	if err != nil {
		return Result{}, fmt.Errorf("GitLab MR note: client for %s: %w", t.APIURL, err)
	}
	if t.Commit != "" {
		mr, _, err := client.MergeRequests.GetMergeRequest(t.Project, t.MergeRequest, nil, gitlab.WithContext(ctx))
		if err != nil {
			return Result{}, t.explain("read the merge request's head", err)
		}
		if mr.SHA != "" && mr.SHA != t.Commit {
			return Result{Head: mr.SHA}, nil
		}
	}
	me, _, err := client.Users.CurrentUser(gitlab.WithContext(ctx))
	if err != nil {
		return Result{}, t.explain("read the token's user (GET /user)", err)
	}
	existing, ignored, err := find(ctx, client, t, marker, me.ID)
	if err != nil {
		return Result{}, t.explain("find the note", err)
	}
	if existing != nil {
		note, _, err := client.Notes.UpdateMergeRequestNote(t.Project, t.MergeRequest, existing.ID,
			&gitlab.UpdateMergeRequestNoteOptions{Body: &body}, gitlab.WithContext(ctx))
		if err != nil {
			return Result{}, t.explain(fmt.Sprintf("update note %d", existing.ID), err)
		}
		return Result{NoteID: note.ID, Ignored: ignored}, nil
	}
	note, _, err := client.Notes.CreateMergeRequestNote(t.Project, t.MergeRequest,
		&gitlab.CreateMergeRequestNoteOptions{Body: &body}, gitlab.WithContext(ctx))
	if err != nil {
		return Result{}, t.explain("create the note", err)
	}
	return Result{NoteID: note.ID, Created: true, Ignored: ignored}, nil
}

// find pages through the merge request's notes for the one with marker that
// user wrote; notes of others with the marker are returned as ignored.
func find(ctx context.Context, client *gitlab.Client, t Target, marker string, user int64) (*gitlab.Note, []IgnoredNote, error) {
	opt := &gitlab.ListMergeRequestNotesOptions{ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1}}
	var own *gitlab.Note
	var ignored []IgnoredNote
	for {
		notes, resp, err := client.Notes.ListMergeRequestNotes(t.Project, t.MergeRequest, opt, gitlab.WithContext(ctx))
		if err != nil {
			return nil, nil, err
		}
		for _, n := range notes {
			switch {
			case n.System || !strings.Contains(n.Body, marker):
			case n.Author.ID != user:
				ignored = append(ignored, IgnoredNote{ID: n.ID, Author: n.Author.Username})
			case own == nil:
				own = n
			}
		}
		if resp.NextPage == 0 {
			return own, ignored, nil
		}
		opt.Page = resp.NextPage
	}
}

// explain turns an API error into what to do about it.
func (t Target) explain(what string, err error) error {
	where := fmt.Sprintf("merge request !%d of project %s", t.MergeRequest, t.Project)
	code := 0
	var resp *gitlab.ErrorResponse
	switch {
	case errors.Is(err, gitlab.ErrNotFound):
		code = http.StatusNotFound
	case errors.As(err, &resp) && resp.Response != nil:
		code = resp.Response.StatusCode
	default:
		return fmt.Errorf("GitLab MR note: %s on %s: %w (is %s reachable?)", what, where, err, t.APIURL)
	}
	hint := ""
	switch {
	case code == http.StatusUnauthorized:
		hint = fmt.Sprintf("the token in %s is missing, expired or revoked", t.TokenVariable)
	case code == http.StatusForbidden:
		hint = fmt.Sprintf("the token in %s lacks the api scope or a role that may comment (Reporter or above)", t.TokenVariable)
	case code == http.StatusNotFound:
		hint = fmt.Sprintf("the project or merge request does not exist, or the token in %s cannot see it", t.TokenVariable)
	case code >= 500:
		hint = "GitLab is failing; retry the job"
	}
	if hint != "" {
		hint = ": " + hint
	}
	return fmt.Errorf("GitLab MR note: %s on %s: %w%s", what, where, err, hint)
}
