package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// newClient is a keep-alive HTTP client for conns concurrent clients of one
// host. It follows no redirects (a 303 to /login is an answer to check, not
// to follow) and ignores proxy settings (loopback only).
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       2 * time.Minute,
	}
}

// loadResult sums one or more timed load runs.
type loadResult struct {
	ok, errs int64
	elapsed  time.Duration
	lat      []time.Duration
	firstErr error
}

func (r *loadResult) add(o loadResult) {
	r.ok += o.ok
	r.errs += o.errs
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
}

// rate is successful requests per second.
func (r loadResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// runLoad has workers clients send requests made by mk, one at a time each,
// for d (then each finishes the request it is in). A response other than
// want is an error. Elapsed runs from the start to the last response.
func runLoad(ctx context.Context, client *http.Client, workers int, d time.Duration, want int, mk func() (*http.Request, error)) loadResult {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	results := make([]loadResult, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.lat = make([]time.Duration, 0, 4096)
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				status, err := do(ctx, client, mk)
				res.lat = append(res.lat, time.Since(t0))
				if err == nil && status != want {
					err = fmt.Errorf("HTTP %d, want %d", status, want)
				}
				if err != nil {
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
					continue
				}
				res.ok++
			}
		}()
	}
	wg.Wait()
	total := loadResult{elapsed: time.Since(start)}
	for _, r := range results {
		r.elapsed = 0
		total.add(r)
	}
	return total
}

// do sends one request and drains the body, returning the status.
func do(ctx context.Context, client *http.Client, mk func() (*http.Request, error)) (int, error) {
	req, err := mk()
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}
