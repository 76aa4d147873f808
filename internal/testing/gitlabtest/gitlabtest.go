// Package gitlabtest is an httptest server that answers the merge request
// notes endpoints of GitLab's REST API v4 as GitLab does: PRIVATE-TOKEN
// authentication, offset pagination headers, JSON errors with a message.
package gitlabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Note is a stored note.
type Note struct {
	ID     int64
	Body   string
	Author string
	System bool
}

// Server is a fake GitLab holding one project's merge request notes.
type Server struct {
	*httptest.Server
	Token string
	// User is the token's user (default project_bot), who writes the notes
	// the API creates; GET /user answers with it, and it may edit only its
	// own notes.
	User         string
	Project      string
	MergeRequest int64
	// Head is the merge request's head commit (its sha); empty answers none.
	Head string
	// Fail, when not zero, is the status every request gets.
	Fail int

	mu       sync.Mutex
	notes    []*Note
	nextID   int64
	Requests []string // "METHOD path"
	Tokens   []string // the PRIVATE-TOKEN of each request
}

// New starts a server; it is closed when the test ends.
func New(t testing.TB, token, project string, mergeRequest int64) *Server {
	s := &Server{Token: token, User: "project_bot", Project: project, MergeRequest: mergeRequest, nextID: 1000}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the CI_API_V4_URL of this server.
func (s *Server) APIURL() string { return s.URL + "/api/v4" }

// Add stores a note as another user wrote it.
func (s *Server) Add(author, body string) *Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	n := &Note{ID: s.nextID, Body: body, Author: author}
	s.notes = append(s.notes, n)
	return n
}

// Notes returns a copy of the stored notes.
func (s *Server) Notes() []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Note, len(s.notes))
	for i, n := range s.notes {
		out[i] = *n
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Requests = append(s.Requests, r.Method+" "+r.URL.Path)
	s.Tokens = append(s.Tokens, r.Header.Get("PRIVATE-TOKEN"))
	if s.Fail != 0 {
		writeError(w, s.Fail, fmt.Sprintf("%d %s", s.Fail, http.StatusText(s.Fail)))
		return
	}
	if r.Header.Get("PRIVATE-TOKEN") != s.Token {
		writeError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	if r.URL.Path == "/api/v4/user" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"id": userID(s.User), "username": s.User})
		return
	}
	if r.URL.Path == fmt.Sprintf("/api/v4/projects/%s/merge_requests/%d", s.Project, s.MergeRequest) && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"iid": s.MergeRequest, "project_id": 1, "sha": s.Head, "state": "opened"})
		return
	}
	prefix := fmt.Sprintf("/api/v4/projects/%s/merge_requests/%d/notes", s.Project, s.MergeRequest)
	if !strings.HasPrefix(r.URL.Path, prefix) {
		writeError(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		s.list(w, r)
	case rest == "" && r.Method == http.MethodPost:
		var in struct{ Body string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
			writeError(w, http.StatusBadRequest, "400 Bad request - body is missing")
			return
		}
		s.nextID++
		n := &Note{ID: s.nextID, Body: in.Body, Author: s.User}
		s.notes = append(s.notes, n)
		writeJSON(w, http.StatusCreated, s.render(n))
	case r.Method == http.MethodPut:
		id, _ := strconv.ParseInt(rest, 10, 64)
		var in struct{ Body string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		for _, n := range s.notes {
			if n.ID == id {
				if n.Author != s.User {
					writeError(w, http.StatusForbidden, "403 Forbidden")
					return
				}
				n.Body = in.Body
				writeJSON(w, http.StatusOK, s.render(n))
				return
			}
		}
		writeError(w, http.StatusNotFound, "404 Not found")
	default:
		writeError(w, http.StatusNotFound, "404 Not Found")
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if page < 1 {
		page = 1
	}
	if per < 1 || per > 100 {
		per = 20
	}
	var out []map[string]any
	for i := (page - 1) * per; i < len(s.notes) && i < page*per; i++ {
		out = append(out, s.render(s.notes[i]))
	}
	if out == nil {
		out = []map[string]any{}
	}
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(len(s.notes)))
	pages := (len(s.notes) + per - 1) / per
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	} else {
		h.Set("X-Next-Page", "")
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) render(n *Note) map[string]any {
	return map[string]any{
		"id": n.ID, "body": n.Body, "system": n.System, "noteable_type": "MergeRequest", "noteable_iid": s.MergeRequest,
		"author":     map[string]any{"id": userID(n.Author), "username": n.Author},
		"created_at": time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC).Format(time.RFC3339),
	}
}

// userID is a stable id per username, as GitLab gives each user one.
func userID(username string) int64 {
	var id int64 = 7
	for _, c := range username {
		id = id*31 + int64(c)
	}
	return id & 0xffffff
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, message string) {
	writeJSON(w, code, map[string]string{"message": message})
}
