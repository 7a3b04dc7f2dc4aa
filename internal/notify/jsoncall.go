package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// JSONCall is one request to a JSON REST API (the ticket receivers' small
// typed clients): In, when set, is sent as JSON; the answer is decoded
// into Out, when set. Errors are prefixed "<Name>: <Op>:" and classified
// by Classify (default: HTTPError with the answer's start).
type JSONCall struct {
	Client *http.Client
	// Name and Op prefix errors ("jira", "create issue").
	Name, Op string
	Method   string
	URL      string
	Query    url.Values
	// Authorization is the header's value; never part of an error.
	Authorization string
	In, Out       any
	// MaxResponse bounds the answer read, in bytes.
	MaxResponse int64
	// Classify turns an answer into nil or a (retryable or Permanent)
	// error; raw is the answer's body.
	Classify func(resp *http.Response, raw []byte) error
}

// Do sends the request. It returns the HTTP status (0 when none came).
func (c JSONCall) Do(ctx context.Context) (int, error) {
	fail := func(err error) error { return fmt.Errorf("%s: %s: %w", c.Name, c.Op, err) }
	var body io.Reader
	if c.In != nil {
		b, err := json.Marshal(c.In)
		if err != nil {
			return 0, Permanent(fail(err))
		}
		body = bytes.NewReader(b)
	}
	u := c.URL
	if len(c.Query) > 0 {
		u += "?" + c.Query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, u, body)
	if err != nil {
		return 0, Permanent(fail(err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Vigia")
	if c.In != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Authorization != "" {
		req.Header.Set("Authorization", c.Authorization)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return 0, fail(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxResponse))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s: %s: reading the answer: %w", c.Name, c.Op, err)
	}
	classify := c.Classify
	if classify == nil {
		classify = func(resp *http.Response, raw []byte) error { return HTTPError(resp, string(raw)) }
	}
	if err := classify(resp, raw); err != nil {
		return resp.StatusCode, fail(err)
	}
	if c.Out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, c.Out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %s: decoding the answer: %w", c.Name, c.Op, err)
		}
	}
	return resp.StatusCode, nil
}
