package faults

// A send load of numbered messages, each with its Idempotency-Key, and the
// bookkeeping of what was accepted.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	loadClients = 4
	maildirWait = 6 * time.Minute // a killed process's claimed jobs come back through River's rescuer and a retry: ~2 min
	burstPoll   = 2 * time.Second
	settleWait  = 4 * time.Minute
)

// result is what one request got: a status (0: no answer) and the body.
type result struct {
	status int
	id     string
	body   []byte
	ctype  string
	err    error
}

// post sends message key to rcpt with key as Idempotency-Key and Subject.
func post(c *testenv.APIClient, key, rcpt string) result {
	body, ctype, err := testenv.MultipartMessage(testenv.Draft{To: []string{rcpt}, Subject: key, Text: "Bericht " + key + ".\n"})
	if err != nil {
		return result{err: err}
	}
	resp, raw, err := c.Send(http.MethodPost, "/api/v1/messages", ctype, bytes.NewReader(body),
		http.Header{"Idempotency-Key": {key}})
	if err != nil {
		return result{err: err}
	}
	r := result{status: resp.StatusCode, body: raw, ctype: resp.Header.Get("Content-Type")}
	if r.status == http.StatusAccepted {
		var acc testenv.Accepted
		if err := json.Unmarshal(raw, &acc); err != nil || acc.ID == "" {
			r.err = fmt.Errorf("202 without an id: %s", raw)
		}
		r.id = acc.ID
	}
	return r
}

// load posts keys from next() with loadClients concurrent clients until next
// returns "", calling observe after each answer; it returns key → result.
func load(c *testenv.APIClient, rcpt string, next func() string, observe func(string, result)) map[string]result {
	var mu sync.Mutex
	out := map[string]result{}
	var wg sync.WaitGroup
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := next(); key != ""; key = next() {
				r := post(c, key, rcpt)
				mu.Lock()
				out[key] = r
				mu.Unlock()
				if observe != nil {
					observe(key, r)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// counter hands out prefix-0000, prefix-0001 … until stop is closed or n keys
// were handed out (n ≤ 0: no limit).
func counter(prefix string, n int, stop <-chan struct{}) func() string {
	var mu sync.Mutex
	i := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-stop:
			return ""
		default:
		}
		if n > 0 && i >= n {
			return ""
		}
		i++
		return fmt.Sprintf("%s-%04d", prefix, i-1)
	}
}

// keys returns a generator over a fixed list.
func keys(list []string) func() string {
	var mu sync.Mutex
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(list) == 0 {
			return ""
		}
		k := list[0]
		list = list[1:]
		return k
	}
}

// acceptedSet is key → true for every 202, with its message id in ids.
func acceptedSet(results map[string]result, into map[string]bool, ids map[string]string) {
	for k, r := range results {
		if r.status == http.StatusAccepted && r.err == nil {
			into[k] = true
			ids[k] = r.id
		}
	}
}
