package modelfiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// DefaultEndpoint is the Hugging Face Hub; HF_ENDPOINT names a mirror.
const DefaultEndpoint = "https://huggingface.co"

// Hub reads a repository's files through the Hub's HTTP API: the revision
// resolved to its commit, the file tree, and byte ranges of files (the Hub
// redirects large files to a CDN, which answers 206).
type Hub struct {
	Endpoint string
	// Token is sent to the endpoint only, never to a redirect's other host.
	Token    string
	Repo     string
	Revision string
	Client   *http.Client

	commit string
}

// NewHub reads HF_ENDPOINT and HF_TOKEN (or the token file huggingface_hub
// writes) from the environment.
func NewHub(repo, revision string) *Hub {
	h := &Hub{Endpoint: strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"), Token: os.Getenv("HF_TOKEN"), Repo: repo, Revision: revision}
	if h.Endpoint == "" {
		h.Endpoint = DefaultEndpoint
	}
	if h.Token == "" {
		path := os.Getenv("HF_TOKEN_PATH")
		if path == "" {
			home := os.Getenv("HF_HOME")
			if home == "" {
				dir, _ := os.UserHomeDir()
				home = filepath.Join(dir, ".cache", "huggingface")
			}
			path = filepath.Join(home, "token")
		}
		if data, err := os.ReadFile(path); err == nil {
			h.Token = strings.TrimSpace(string(data))
		}
	}
	if h.Revision == "" {
		h.Revision = "main"
	}
	return h
}

func (h *Hub) String() string { return h.Repo + "@" + h.Revision }

func (h *Hub) client() *http.Client {
	c := &http.Client{Timeout: 60 * time.Second}
	if h.Client != nil {
		c = h.Client
	}
	// The token goes to the endpoint's scheme, host and port alone: Go keeps
	// Authorization on a redirect to the same host name even on another
	// port, or from https to http.
	endpoint, _ := url.Parse(h.Endpoint)
	c2 := *c
	c2.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != endpoint.Host || req.URL.Scheme != endpoint.Scheme {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &c2
}

// Commit resolves the revision (a branch, tag or commit) to its commit.
func (h *Hub) Commit(ctx context.Context) (string, error) {
	if h.commit != "" {
		return h.commit, nil
	}
	var info struct {
		SHA string `json:"sha"`
	}
	if err := h.getJSON(ctx, "/api/models/"+h.Repo+"/revision/"+url.PathEscape(h.Revision), &info); err != nil {
		return "", err
	}
	if info.SHA == "" {
		return "", fmt.Errorf("%s: the Hub answered no commit for the revision", h)
	}
	h.commit = info.SHA
	return h.commit, nil
}

// Files lists the repository at its commit.
func (h *Hub) Files(ctx context.Context) ([]string, error) {
	commit, err := h.Commit(ctx)
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Type string `json:"type"`
		Path string `json:"path"`
	}
	if err := h.getJSON(ctx, "/api/models/"+h.Repo+"/tree/"+commit+"?recursive=true", &entries); err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type == "file" {
			files = append(files, e.Path)
		}
	}
	return files, nil
}

// ReadRange reads bytes [off, off+n) of path at the commit.
func (h *Hub) ReadRange(ctx context.Context, path string, off, n int64) ([]byte, error) {
	commit, err := h.Commit(ctx)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = h.do(ctx, "/"+h.Repo+"/resolve/"+commit+"/"+path, fmt.Sprintf("bytes=%d-%d", off, off+n-1), func(resp *http.Response) error {
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK:
			// A server that ignores Range sends the whole file: skip to off.
			if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
				return err
			}
		case http.StatusRequestedRangeNotSatisfiable:
			out = nil
			return nil
		default:
			return h.statusError(resp, path)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, n))
		out = data
		return err
	})
	return out, err
}

func (h *Hub) getJSON(ctx context.Context, path string, v any) error {
	return h.do(ctx, path, "", func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return h.statusError(resp, path)
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
			return fmt.Errorf("%s: %s: %w", h, path, err)
		}
		return nil
	})
}

// do sends a GET, retrying what may pass (5xx, 429, a broken connection)
// three times with backoff.
func (h *Hub) do(ctx context.Context, path, rng string, read func(*http.Response) error) error {
	var last error
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 3, Steps: 4}
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.Endpoint+path, nil)
		if err != nil {
			return false, err
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if h.Token != "" {
			req.Header.Set("Authorization", "Bearer "+h.Token)
		}
		resp, err := h.client().Do(req)
		if err != nil {
			last = err
			return false, nil
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			last = h.statusError(resp, path)
			return false, nil
		}
		return true, read(resp)
	})
	if wait.Interrupted(err) && last != nil {
		return last
	}
	return err
}

func (h *Hub) statusError(resp *http.Response, path string) error {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		if h.Token == "" {
			return fmt.Errorf("%s: %s: %s: the repository is gated or private: set HF_TOKEN to a token that may read it", h, path, resp.Status)
		}
		return fmt.Errorf("%s: %s: %s: HF_TOKEN may not read this repository (gated: accept its terms on the Hub)", h, path, resp.Status)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %s: %w: check the repository name and the revision", h, path, ErrNotFound)
	}
	return fmt.Errorf("%s: %s: %s", h, path, resp.Status)
}
