package testenv

// A small client of veilig's HTTP API (api/openapi.yaml), as the add-in uses
// it, and the views of its answers that the suites read.

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

// RequestTimeout bounds one request to the API, its answer's body included.
const RequestTimeout = time.Minute

// maxAnswer bounds the body of an answer that an APIClient reads.
const maxAnswer = 4 << 20

// APIClient calls one server as one user.
type APIClient struct {
	base  string
	token string
	hc    *http.Client
}

// NewHTTPClient returns the HTTP client an APIClient uses: RequestTimeout, and
// up to 16 idle connections per host for concurrent callers.
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: RequestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

// NewAPIClient returns a client of the server at base (e.g. Serve.URL) that
// sends token as its bearer token, or none when token is "".
func NewAPIClient(base, token string) *APIClient {
	return &APIClient{base: base, token: token, hc: NewHTTPClient()}
}

// Login takes an access token with the password grant and returns a client
// that uses it; it fails the test when the server refuses.
func Login(t testing.TB, base, email, password string) *APIClient {
	t.Helper()
	c := NewAPIClient(base, "")
	body, _ := json.Marshal(map[string]string{"grant_type": "password", "username": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	status, raw := c.Do(t, http.MethodPost, "/api/v1/auth/token", "application/json", bytes.NewReader(body), nil)
	if status != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("login %s: %d %s", email, status, raw)
	}
	c.token = tok.AccessToken
	return c
}

// Do sends one request to path (below the base URL) with the Content-Type
// ctype (none when "") and the extra headers hdr, and returns the status and
// body; transport errors fail the test.
func (c *APIClient) Do(t testing.TB, method, path, ctype string, body io.Reader, hdr http.Header) (int, []byte) {
	t.Helper()
	resp, raw, err := c.Send(method, path, ctype, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

// Send is Do without a test, for callers to whom errors are data (a burst, a
// server being killed); the response's body is already read and closed.
func (c *APIClient) Send(method, path, ctype string, body io.Reader, hdr http.Header) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
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
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return resp, raw, err
}

// Draft is the JSON "message" part of POST /api/v1/messages.
type Draft struct {
	To      []string `json:"to,omitempty"`
	Cc      []string `json:"cc,omitempty"`
	Bcc     []string `json:"bcc,omitempty"`
	Subject string   `json:"subject"`
	Text    string   `json:"text,omitempty"`
	// Phones maps an external recipient to the mobile number its code goes to.
	Phones map[string]string `json:"phones,omitempty"`
}

// Attachment is one "attachment" part of POST /api/v1/messages.
type Attachment struct {
	Name, ContentType string
	Data              []byte
}

// Accepted is the 202 answer to POST /api/v1/messages.
type Accepted struct {
	ID         string              `json:"id"`
	Recipients []AcceptedRecipient `json:"recipients"`
}

// AcceptedRecipient is how one recipient of an accepted message is routed.
type AcceptedRecipient struct {
	Address, Route, Status, Reason string
}

// MultipartMessage is the multipart/form-data body of one message and its
// Content-Type.
func MultipartMessage(d Draft, atts ...Attachment) (body []byte, ctype string, err error) {
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
		if err := writeAttachment(mw, a); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), mw.FormDataContentType(), nil
}

func writeAttachment(mw *multipart.Writer, a Attachment) error {
	h := textproto.MIMEHeader{}
	// As browsers send it: the name in UTF-8 inside the quoted string.
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachment"; filename=%q`, a.Name))
	h.Set("Content-Type", a.ContentType)
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(a.Data)
	return err
}

// Submit posts a message and requires 202.
func (c *APIClient) Submit(t testing.TB, d Draft, atts ...Attachment) Accepted {
	t.Helper()
	body, ctype, err := MultipartMessage(d, atts...)
	if err != nil {
		t.Fatal(err)
	}
	status, raw := c.Do(t, http.MethodPost, "/api/v1/messages", ctype, bytes.NewReader(body), nil)
	var acc Accepted
	if status != http.StatusAccepted || json.Unmarshal(raw, &acc) != nil || acc.ID == "" {
		t.Fatalf("POST /api/v1/messages: %d %s", status, raw)
	}
	return acc
}

// AttemptView is one delivery attempt in GET /api/v1/messages/{id}
// (api/messages.go): where it went, how it was secured and how it ended.
type AttemptView struct {
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

// RecipientView is one delivery of a message: to an address, of a kind ("to",
// "self-copy", …).
type RecipientView struct {
	Address  string        `json:"address"`
	Kind     string        `json:"kind"`
	Route    string        `json:"route"`
	State    string        `json:"state"`
	Runs     int           `json:"runs"`
	Attempts []AttemptView `json:"attempts"`
}

// MessageView is GET /api/v1/messages/{id}.
type MessageView struct {
	ID         string          `json:"id"`
	MessageID  string          `json:"message_id"`
	State      string          `json:"state"`
	Recipients []RecipientView `json:"recipients"`
}

// Recipient returns the delivery to addr of the given kind.
func (m MessageView) Recipient(addr, kind string) (RecipientView, bool) {
	for _, r := range m.Recipients {
		if strings.EqualFold(r.Address, addr) && r.Kind == kind {
			return r, true
		}
	}
	return RecipientView{}, false
}

// Message reads one message and requires 200.
func (c *APIClient) Message(t testing.TB, id string) MessageView {
	t.Helper()
	status, raw := c.Do(t, http.MethodGet, "/api/v1/messages/"+url.PathEscape(id), "", nil, nil)
	var m MessageView
	if status != http.StatusOK || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("GET /api/v1/messages/%s: %d %s", id, status, raw)
	}
	return m
}

// WaitRecipient polls the message until the delivery to addr (of kind) is in
// state and returns the message.
func (c *APIClient) WaitRecipient(t testing.TB, id, addr, kind, state string, timeout time.Duration) MessageView {
	t.Helper()
	var m MessageView
	WaitFor(t, timeout, "delivery to "+addr+" "+state, func() (bool, string) {
		m = c.Message(t, id)
		r, ok := m.Recipient(addr, kind)
		js, _ := json.Marshal(r)
		return ok && r.State == state, string(js)
	})
	return m
}

// MessageSummary is one message in GET /api/v1/messages.
type MessageSummary struct {
	ID        string `json:"id"`
	MessageID string `json:"message_id"`
	State     string `json:"state"`
}

// List returns all of the user's messages, following next_cursor.
func (c *APIClient) List(t testing.TB) []MessageSummary {
	t.Helper()
	var all []MessageSummary
	for cursor := ""; ; {
		page, next := c.listPage(t, cursor)
		all = append(all, page...)
		if next == nil || len(page) == 0 {
			return all
		}
		cursor = *next
	}
}

// listPage reads one page of up to 100 messages from cursor ("" for the first).
func (c *APIClient) listPage(t testing.TB, cursor string) ([]MessageSummary, *string) {
	t.Helper()
	path := "/api/v1/messages?limit=100"
	if cursor != "" {
		path += "&cursor=" + url.QueryEscape(cursor)
	}
	status, raw := c.Do(t, http.MethodGet, path, "", nil, nil)
	var page struct {
		Messages   []MessageSummary `json:"messages"`
		NextCursor *string          `json:"next_cursor"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &page) != nil {
		t.Fatalf("GET %s: %d %s", path, status, raw)
	}
	return page.Messages, page.NextCursor
}
