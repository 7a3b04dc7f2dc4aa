package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultURL is where the CLI finds the API unless told otherwise.
const DefaultURL = "http://127.0.0.1:9465"

// Client calls the API; the CLI uses it.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the API at base ("http://host:port"),
// sending token as a bearer token when it is set.
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http://host:port or https://host:port", base)
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// StatusError is an error answer of the API.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
			if r := []rune(e.Error); len(r) > 200 {
				e.Error = string(r[:200]) + "…"
			}
		}
		return &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// Silences lists the active and pending silences, and expired ones too
// when expired is set.
func (c *Client) Silences(ctx context.Context, expired bool) ([]Silence, error) {
	var out []Silence
	path := "/api/v1/silences"
	if expired {
		path += "?expired=true"
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// CreateSilence creates a silence and returns it.
func (c *Client) CreateSilence(ctx context.Context, req SilenceRequest) (*Silence, error) {
	var out Silence
	if err := c.do(ctx, http.MethodPost, "/api/v1/silences", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExpireSilence expires a silence now and returns it.
func (c *Client) ExpireSilence(ctx context.Context, id string) (*Silence, error) {
	var out Silence
	if err := c.do(ctx, http.MethodDelete, "/api/v1/silences/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeadLetters lists up to limit dead letters, oldest first (0: all).
func (c *Client) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	return out, c.do(ctx, http.MethodGet, "/api/v1/deliveries/dead?limit="+strconv.Itoa(limit), nil, &out)
}

// Replay moves dead letters back into the outbox.
func (c *Client) Replay(ctx context.Context, req ReplayRequest) (*ReplayResult, error) {
	var out ReplayResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/deliveries/dead/replay", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the instance's status.
func (c *Client) Status(ctx context.Context) (map[string]any, error) {
	var out map[string]any
	return out, c.do(ctx, http.MethodGet, "/api/v1/status", nil, &out)
}
