package sso

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
)

// newHTTPClient derives the client used for every outbound call of one
// provider from the application's client: same transport and redirect
// policy, plus the per-call timeout and the response size cap. The caller's
// client is not modified.
func newHTTPClient(base *http.Client, timeout time.Duration, maxBytes int64) *http.Client {
	next := http.DefaultTransport
	var baseRedirect func(*http.Request, []*http.Request) error
	if base != nil {
		if base.Transport != nil {
			next = base.Transport
		}
		baseRedirect = base.CheckRedirect
	}
	return &http.Client{
		Transport:     &limitTransport{next: next, max: maxBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error { return checkRedirect(req, via, baseRedirect) },
		Timeout:       timeout,
	}
}

// checkRedirect follows redirects of GET requests only. A redirected POST
// (307/308) would re-send the code, verifier and client secret to wherever
// the Location points; token and registration endpoints have no reason to
// redirect.
func checkRedirect(req *http.Request, via []*http.Request, next func(*http.Request, []*http.Request) error) error {
	if via[0].Method != http.MethodGet {
		return fmt.Errorf("refusing to follow a redirect of a %s request", via[0].Method)
	}
	if next != nil {
		return next(req, via)
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// limitTransport caps response bodies. It wraps the transport rather than
// each reader so that code we do not own (oauth2, go-oidc) is bounded too.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

// RoundTrip implements http.RoundTripper.
func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, &tooLargeError{limit: t.max}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max, limit: t.max}
	return resp, nil
}

// tooLargeError reports a response body over MaxResponseBytes. It matches
// ErrUnavailable: an OP sending megabytes where kilobytes are expected is
// broken or hostile, and either way unusable.
type tooLargeError struct{ limit int64 }

// Error implements error.
func (e *tooLargeError) Error() string {
	return fmt.Sprintf("response body exceeds %d bytes", e.limit)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *tooLargeError) Is(target error) bool { return target == ErrUnavailable }

// limitedBody is like http.MaxBytesReader: it reads at most left bytes and
// then fails with tooLargeError instead of reporting a clean EOF, so a
// truncated document can never parse successfully.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	err   error
}

// Read implements io.Reader.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read one byte more than allowed to detect an over-size body.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		b.err = err
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = &tooLargeError{limit: b.limit}
	return n, b.err
}

// Close implements io.Closer.
func (b *limitedBody) Close() error { return b.rc.Close() }

// response is a fully read (and size-capped) HTTP response.
type response struct {
	status      int
	contentType string // media type without parameters
	header      http.Header
	body        []byte
}

// do sends req and reads the whole body. Transport failures, timeouts and
// over-size bodies are ErrUnavailable; what counts as a good status is the
// caller's decision. what names the call for the error message.
func do(ctx context.Context, client *http.Client, req *http.Request, what string) (*response, error) {
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, unavailable(what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, unavailable(what, fmt.Errorf("reading body: %w", err))
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return &response{status: resp.StatusCode, contentType: mt, header: resp.Header, body: body}, nil
}

// statusError describes an unexpected status without echoing the body,
// which may be a large HTML page or contain reflected input.
func statusError(what string, r *response) error {
	err := fmt.Errorf("%s: unexpected HTTP status %d", what, r.status)
	if r.status >= 500 || r.status == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
