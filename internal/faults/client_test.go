package faults

// A small client of the HTTP API (api/openapi.yaml), as the add-in uses it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"
)

const requestTimeout = time.Minute

// apiClient calls one server as one user.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newHTTPClient() *http.Client {
	return &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

// login takes an access token with the password grant.
func login(t *testing.T, base, email, password string) *apiClient {
	t.Helper()
	c := &apiClient{base: base, hc: newHTTPClient()}
	body, _ := json.Marshal(map[string]string{"grant_type": "password", "username": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	status, raw := c.do(t, http.MethodPost, "/api/v1/auth/token", "application/json", bytes.NewReader(body), nil)
	if status != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("login %s: %d %s", email, status, raw)
	}
	c.token = tok.AccessToken
	return c
}

// do sends one request and returns the status and body; transport errors fail
// the test.
func (c *apiClient) do(t *testing.T, method, path, ctype string, body io.Reader, hdr http.Header) (int, []byte) {
	t.Helper()
	resp, raw, err := c.send(method, path, ctype, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

// send is do without a test: for the burst, where errors are data.
func (c *apiClient) send(method, path, ctype string, body io.Reader, hdr http.Header) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, raw, err
}

// draft is the JSON "message" part of POST /api/v1/messages.
type draft struct {
	To      []string `json:"to,omitempty"`
	Cc      []string `json:"cc,omitempty"`
	Bcc     []string `json:"bcc,omitempty"`
	Subject string   `json:"subject"`
	Text    string   `json:"text,omitempty"`
	// Phones maps an external recipient to the mobile number its code goes to.
	Phones map[string]string `json:"phones,omitempty"`
}

type attachment struct {
	Name, ContentType string
	Data              []byte
}

// accepted is the 202 answer.
type accepted struct {
	ID         string `json:"id"`
	Recipients []struct {
		Address, Route, Status, Reason string
	} `json:"recipients"`
}

// submission is the multipart body of one message.
func submission(d draft, atts ...attachment) (body []byte, ctype string, err error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="message"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if err := json.NewEncoder(pw).Encode(d); err != nil {
		return nil, "", err
	}
	for _, a := range atts {
		h := textproto.MIMEHeader{}
		// As browsers send it: the name in UTF-8 inside the quoted string.
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachment"; filename=%q`, a.Name))
		h.Set("Content-Type", a.ContentType)
		if pw, err = mw.CreatePart(h); err != nil {
			return nil, "", err
		}
		if _, err := pw.Write(a.Data); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), mw.FormDataContentType(), nil
}

// Views of GET /api/v1/messages/{id} (api/messages.go).
type attemptView struct {
	MX         string `json:"mx"`
	IP         string `json:"ip"`
	Policy     string `json:"policy"`
	TLSVersion string `json:"tls_version"`
	Cipher     string `json:"cipher"`
	TLSAMatch  string `json:"tlsa_match"`
	Code       int    `json:"code"`
	Enhanced   string `json:"enhanced_code"`
	Reply      string `json:"reply"`
	Error      string `json:"error"`
	Outcome    string `json:"outcome"`
}

type recipientView struct {
	Address  string        `json:"address"`
	Kind     string        `json:"kind"`
	Route    string        `json:"route"`
	State    string        `json:"state"`
	Runs     int           `json:"runs"`
	Attempts []attemptView `json:"attempts"`
}

type messageView struct {
	ID         string          `json:"id"`
	MessageID  string          `json:"message_id"`
	State      string          `json:"state"`
	Recipients []recipientView `json:"recipients"`
}

// recipient returns the delivery to addr of the given kind.
func (m messageView) recipient(addr, kind string) (recipientView, bool) {
	for _, r := range m.Recipients {
		if strings.EqualFold(r.Address, addr) && r.Kind == kind {
			return r, true
		}
	}
	return recipientView{}, false
}

func (c *apiClient) message(t *testing.T, id string) messageView {
	t.Helper()
	status, raw := c.do(t, http.MethodGet, "/api/v1/messages/"+url.PathEscape(id), "", nil, nil)
	var m messageView
	if status != http.StatusOK || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("GET /api/v1/messages/%s: %d %s", id, status, raw)
	}
	return m
}

// waitRecipient polls the message until the delivery to addr (of kind) is in
// state and returns the message.
func (c *apiClient) waitRecipient(t *testing.T, id, addr, kind, state string, timeout time.Duration) messageView {
	t.Helper()
	var m messageView
	waitFor(t, timeout, "delivery to "+addr+" "+state, func() (bool, string) {
		m = c.message(t, id)
		r, ok := m.recipient(addr, kind)
		js, _ := json.Marshal(r)
		return ok && r.State == state, string(js)
	})
	return m
}
