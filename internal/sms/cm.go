package sms

// CM.com Business Messaging (https://developers.cm.com/messaging/docs/integration).
//
// Why CM: a Dutch provider (Breda) widely used by Dutch government bodies and
// municipalities, with EU-hosted platforms and a plain JSON-over-HTTPS API.
//
// What the API documentation says and this client relies on:
//   - POST https://gw.messaging.cm.com/v1.0/message with a JSON body
//     {"messages":{"msg":[{"from":…,"to":[{"number":"00316…"}],"body":{"type":"auto",
//     "content":…},"reference":…,"allowedChannels":["SMS"]}]}}.
//     That global endpoint runs through Cloudflare, Inc. (USA) as a sub-processor;
//     CM offers a non-Cloudflare endpoint on request, hence CMConfig.BaseURL.
//   - The product token goes in the X-CM-PRODUCTTOKEN header (the recommended
//     form; the body form "authentication.productToken" is also accepted). Keeping
//     it out of the body keeps it out of any logged request body.
//   - Numbers are written as 00 + country code + number, no "+" and no spaces
//     (https://developers.cm.com/messaging/docs/shared-features).
//   - allowedChannels defaults to every channel configured for the account, so
//     it is pinned to SMS.
//   - Responses (https://developers.cm.com/messaging/docs/responses-errors-json):
//     {"details":…,"errorCode":…,"messages":[{"to":…,"status":"Accepted"|"Rejected",
//     "reference":…,"parts":…,"messageDetails":…,"messageErrorCode":…}]}; a rejected
//     request is 400 with errorCode (101: no account for the authentication), a
//     partly accepted one is 200 with per-message status. Acceptance is not
//     delivery; delivery arrives via status-report webhooks. The response carries
//     no message id: the reference is the correlation key.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultCMBaseURL is CM's documented global endpoint host.
const DefaultCMBaseURL = "https://gw.messaging.cm.com"

const (
	cmPath             = "/v1.0/message"
	cmTokenHeader      = "X-CM-PRODUCTTOKEN"
	maxResponseBytes   = 64 << 10
	defaultAttempts    = 3
	defaultBackoff     = 500 * time.Millisecond
	maxBackoff         = 5 * time.Second
	defaultAttemptTime = 10 * time.Second
)

// Secret is a credential that never prints: String, GoString, LogValue and
// MarshalText all yield a placeholder.
type Secret string

const redacted = "[redacted]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s Secret) reveal() string             { return string(s) }
func (s Secret) empty() bool                { return s == "" }

// CMConfig configures the CM sender. Zero fields take the defaults noted.
type CMConfig struct {
	BaseURL        string        // default DefaultCMBaseURL; tests point it at httptest
	ProductToken   Secret        // required
	From           string        // sender id: ≤11 alphanumerics or ≤16 digits; required
	HTTPClient     *http.Client  // default: a client with a 15 s overall timeout
	MaxAttempts    int           // default 3; only temporary failures are retried
	Backoff        time.Duration // first retry delay, doubled per retry with jitter; default 500 ms
	AttemptTimeout time.Duration // per HTTP attempt; default 10 s
	Log            *slog.Logger  // default: discard
}

// CM sends SMS through CM.com Business Messaging.
type CM struct {
	endpoint string
	token    Secret
	from     string
	client   *http.Client
	attempts int
	backoff  time.Duration
	perTry   time.Duration
	log      *slog.Logger
}

var _ Sender = (*CM)(nil)

// NewCM validates cfg and returns a CM sender.
func NewCM(cfg CMConfig) (*CM, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &CM{
		endpoint: cfg.BaseURL + cmPath,
		token:    cfg.ProductToken,
		from:     cfg.From,
		client:   cfg.HTTPClient,
		attempts: cfg.MaxAttempts,
		backoff:  cfg.Backoff,
		perTry:   cfg.AttemptTimeout,
		log:      cfg.Log,
	}, nil
}

func (cfg CMConfig) validate() error {
	if cfg.ProductToken.empty() {
		return fmt.Errorf("%w: cm: product token missing", ErrConfig)
	}
	if !validSenderID(cfg.From) {
		return fmt.Errorf("%w: cm: sender id must be 1-11 alphanumerics or 1-16 digits", ErrConfig)
	}
	if cfg.BaseURL == "" {
		return nil
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: cm: base URL must be an http(s) URL", ErrConfig)
	}
	return nil
}

func (cfg *CMConfig) defaults() {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultCMBaseURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = defaultBackoff
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = defaultAttemptTime
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
}

// validSenderID follows CM's "from" rule: 11 alphanumerics [a-zA-Z0-9] or 16 digits.
func validSenderID(s string) bool {
	alnum, digits := true, true
	for _, r := range s {
		isDigit := r >= '0' && r <= '9'
		digits = digits && isDigit
		alnum = alnum && (isDigit || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}
	return len(s) > 0 && (digits && len(s) <= 16 || alnum && len(s) <= 11)
}

// Send submits m, retrying temporary failures with exponential backoff up to
// MaxAttempts. It logs the outcome once, with the number masked.
func (c *CM) Send(ctx context.Context, m Message) (Receipt, error) {
	if err := m.validate(); err != nil {
		return Receipt{}, err
	}
	body, err := json.Marshal(c.request(m))
	if err != nil {
		return Receipt{}, fmt.Errorf("sms: cm: encode request: %w", err)
	}
	rcpt, attempts, err := c.sendWithRetry(ctx, body)
	c.logOutcome(ctx, m, attempts, err)
	return rcpt, err
}

func (c *CM) sendWithRetry(ctx context.Context, body []byte) (Receipt, int, error) {
	for attempt := 1; ; attempt++ {
		rcpt, err := c.attempt(ctx, body)
		if err == nil || attempt >= c.attempts || ctx.Err() != nil || !IsTemporary(err) {
			return rcpt, attempt, err
		}
		if werr := c.wait(ctx, attempt); werr != nil {
			return Receipt{}, attempt, contextError(werr)
		}
	}
}

// wait sleeps before retry number attempt: backoff·2^(attempt-1), capped, with
// jitter in [d/2, d).
func (c *CM) wait(ctx context.Context, attempt int) error {
	d := min(c.backoff<<(attempt-1), maxBackoff)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *CM) logOutcome(ctx context.Context, m Message, attempts int, err error) {
	attrs := []any{"to", m.To, "reference", m.Reference, "attempts", attempts}
	if err != nil {
		c.log.WarnContext(ctx, "sms: cm send failed", append(attrs, "err", err)...)
		return
	}
	c.log.InfoContext(ctx, "sms: cm send accepted", attrs...)
}

// attempt performs one HTTP exchange under its own timeout.
func (c *CM) attempt(ctx context.Context, body []byte) (Receipt, error) {
	actx, cancel := context.WithTimeout(ctx, c.perTry)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("sms: cm: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(cmTokenHeader, c.token.reveal())
	resp, err := c.client.Do(req)
	if err != nil {
		return Receipt{}, transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return Receipt{}, transportError(ctx, err)
	}
	return classify(resp.StatusCode, data)
}

// transportError classifies a failure without an HTTP response. The caller's
// own cancellation or deadline is reported as such (and is not retried by
// sendWithRetry); an attempt time-out or connection error is temporary.
func transportError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return contextError(cerr)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // drop the URL: it is configuration, not diagnosis
	}
	return &ProviderError{Code: "transport", Temporary: true, Err: err}
}

// contextError reports the caller's cancellation or deadline; it is temporary
// (a later send may work) but is not retried within this Send.
func contextError(err error) *ProviderError {
	code := "canceled"
	if errors.Is(err, context.DeadlineExceeded) {
		code = "timeout"
	}
	return &ProviderError{Code: code, Temporary: true, Err: err}
}

// cmRequest and friends mirror CM's JSON request body.
type cmRequest struct {
	Messages cmMessages `json:"messages"`
}

type cmMessages struct {
	Msg []cmMsg `json:"msg"`
}

type cmMsg struct {
	From            string     `json:"from"`
	To              []cmNumber `json:"to"`
	Body            cmBody     `json:"body"`
	Reference       string     `json:"reference"`
	AllowedChannels []string   `json:"allowedChannels"`
}

type cmNumber struct {
	Number string `json:"number"`
}

type cmBody struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

func (c *CM) request(m Message) cmRequest {
	return cmRequest{Messages: cmMessages{Msg: []cmMsg{{
		From:            c.from,
		To:              []cmNumber{{Number: "00" + m.To.E164()[1:]}},
		Body:            cmBody{Type: "auto", Content: m.Text},
		Reference:       m.Reference,
		AllowedChannels: []string{"SMS"},
	}}}}
}

// cmResponse mirrors CM's JSON response body. messageDetails is deliberately
// not decoded: it can quote the phone number.
type cmResponse struct {
	ErrorCode *int        `json:"errorCode"`
	Messages  []cmMsgResp `json:"messages"`
}

type cmMsgResp struct {
	Status           string `json:"status"`
	Reference        string `json:"reference"`
	Parts            int    `json:"parts"`
	MessageErrorCode int    `json:"messageErrorCode"`
}

// classify turns an HTTP status and body into a receipt or a *ProviderError.
func classify(status int, data []byte) (Receipt, error) {
	switch {
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return Receipt{}, &ProviderError{Status: status, Code: errorCode(data), Temporary: true}
	case status >= 400:
		return Receipt{}, &ProviderError{Status: status, Code: errorCode(data)}
	case status < 200 || status > 299:
		return Receipt{}, &ProviderError{Status: status, Code: "unexpected_status"}
	}
	return accepted(status, data)
}

// accepted reads a 2xx body. A body that cannot be understood is a permanent
// error: the message may have been accepted, and retrying could send it twice.
func accepted(status int, data []byte) (Receipt, error) {
	var r cmResponse
	if err := json.Unmarshal(data, &r); err != nil || len(r.Messages) != 1 {
		return Receipt{}, &ProviderError{Status: status, Code: "malformed_response", Err: err}
	}
	m := r.Messages[0]
	if m.Status != "Accepted" {
		return Receipt{}, &ProviderError{Status: status, Code: strconv.Itoa(m.MessageErrorCode)}
	}
	return Receipt{ProviderID: m.Reference, Status: m.Status}, nil
}

// errorCode extracts CM's code from an error body: the request-level errorCode,
// or the first message's messageErrorCode when the request code only counts
// created messages. An unreadable body yields "unknown".
func errorCode(data []byte) string {
	var r cmResponse
	if json.Unmarshal(data, &r) != nil || r.ErrorCode == nil {
		return "unknown"
	}
	if len(r.Messages) > 0 && r.Messages[0].MessageErrorCode != 0 {
		return strconv.Itoa(r.Messages[0].MessageErrorCode)
	}
	return strconv.Itoa(*r.ErrorCode)
}
