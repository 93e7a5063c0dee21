package api

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/directory/search"
	"github.com/veilig/veilig/internal/delivery"
)

// DirectoryReader gives the current in-memory directory view.
type DirectoryReader interface {
	Snapshot() *directory.Snapshot
}

// StatusReader reports the directory's size and last sync.
type StatusReader interface {
	Counts(ctx context.Context) (directory.Counts, error)
	LastRun(ctx context.Context) (directory.SyncRun, error)
}

// TransportPreview says how delivery to a domain would be secured right now
// (delivery.Deliverer): dane, mta-sts, pkix or unavailable, from cached lookups.
type TransportPreview interface {
	Preview(ctx context.Context, domain string) delivery.Transport
}

// Search and resolve limits (issue contract).
const (
	minQueryLen      = 2
	maxQueryLen      = 100
	defaultLimit     = 10
	maxLimit         = 50
	maxResolveAddrs  = 500
	statusDBTimeout  = 5 * time.Second
	roleOperatorName = "operator"

	defaultPreviewTimeout = 3 * time.Second
	previewWorkers        = 8
	modeUnavailable       = "unavailable"
)

type searchResponse struct {
	Results []searchResult `json:"results"`
}

type searchResult struct {
	Kind         string           `json:"kind"`
	Name         string           `json:"name"`
	Email        string           `json:"email,omitempty"`
	Organisation directory.OrgRef `json:"organisation"`
	Domains      []string         `json:"domains,omitempty"`
}

func (h *handlers) search(c *gin.Context) {
	q := c.Query("q")
	if n := utf8.RuneCountInString(q); n < minQueryLen || n > maxQueryLen || !utf8.ValidString(q) {
		_ = c.Error(newError(kindInvalidParameter, "q must be 2 to 100 characters").
			withFields(FieldProblem{Field: "q", Detail: "length 2–100"}))
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	hits := h.Directory.Snapshot().Index.Search(q, limit)
	out := make([]searchResult, len(hits))
	for i, hit := range hits {
		out[i] = toResult(hit.Record)
	}
	c.JSON(http.StatusOK, searchResponse{Results: out})
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, newError(kindInvalidParameter, "limit must be a whole number from 1 to 50").
			withFields(FieldProblem{Field: "limit", Detail: "1–50"})
	}
	return n, nil
}

func toResult(r *search.Record) searchResult {
	res := searchResult{Name: r.Name, Organisation: directory.OrgRef{ID: r.OrganisationID, Name: r.OrganisationName}}
	if r.Kind == search.KindOrganisation {
		res.Kind, res.Domains = "organisation", r.Domains
	} else {
		res.Kind, res.Email = "person", r.Email
	}
	return res
}

type resolveRequest struct {
	Addresses []string `json:"addresses"`
}

func (h *handlers) resolve(c *gin.Context) {
	var req resolveRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if len(req.Addresses) == 0 || len(req.Addresses) > maxResolveAddrs {
		_ = c.Error(newError(kindInvalidParameter, "addresses must hold 1 to 500 addresses").
			withFields(FieldProblem{Field: "addresses", Detail: "1–500 items"}))
		return
	}
	res := h.Directory.Snapshot().Resolve(req.Addresses)
	c.JSON(http.StatusOK, gin.H{"recipients": h.withTransport(c.Request.Context(), res)})
}

// resolution is one answer of resolve: the route and, for internal recipients
// when a TransportPreview is configured, how delivery would be secured.
type resolution struct {
	directory.Resolution
	Transport *transportView `json:"transport,omitempty"`
}

type transportView struct {
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
}

func (h *handlers) withTransport(ctx context.Context, res []directory.Resolution) []resolution {
	out := make([]resolution, len(res))
	domains := make([]string, len(res))
	var distinct []string
	seen := map[string]bool{}
	for i, r := range res {
		out[i].Resolution = r
		if r.Route != directory.RouteInternal || h.Transport == nil {
			continue
		}
		domains[i], _, _ = directory.CheckAddress(r.Address)
		if !seen[domains[i]] {
			seen[domains[i]] = true
			distinct = append(distinct, domains[i])
		}
	}
	if len(distinct) == 0 {
		return out
	}
	previews := h.previewAll(ctx, distinct)
	for i, d := range domains {
		if d == "" {
			continue
		}
		t, ok := previews[d]
		if !ok {
			t = delivery.Transport{Mode: modeUnavailable, Reason: "the transport lookup did not finish in time"}
		}
		out[i].Transport = &transportView{Mode: t.Mode, Reason: t.Reason}
	}
	return out
}

// previewAll previews each domain once, a few at a time, under one deadline;
// domains not done by then are missing from the result.
func (h *handlers) previewAll(ctx context.Context, domains []string) map[string]delivery.Transport {
	timeout := h.opts.PreviewTimeout
	if timeout <= 0 {
		timeout = defaultPreviewTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		mu   sync.Mutex
		out  = make(map[string]delivery.Transport, len(domains))
		jobs = make(chan string)
		wg   sync.WaitGroup
	)
	for range min(previewWorkers, len(domains)) {
		wg.Go(func() {
			for d := range jobs {
				t := h.Transport.Preview(ctx, d)
				mu.Lock()
				out[d] = t
				mu.Unlock()
			}
		})
	}
	feed(ctx, jobs, domains)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(out)
}

// feed sends domains to the workers until all are sent or ctx ends, then closes jobs.
func feed(ctx context.Context, jobs chan<- string, domains []string) {
	defer close(jobs)
	for _, d := range domains {
		select {
		case jobs <- d:
		case <-ctx.Done():
			return
		}
	}
}

// displayName is the directory's display name of the person with this address,
// or "" when the directory does not know them.
func displayName(d DirectoryReader, email string) string {
	if d == nil {
		return ""
	}
	return d.Snapshot().PersonName(email)
}

type syncStatus struct {
	ID            int64                 `json:"id"`
	Kind          string                `json:"kind"`
	StartedAt     time.Time             `json:"started_at"`
	FinishedAt    *time.Time            `json:"finished_at"`
	Outcome       string                `json:"outcome"`
	Error         string                `json:"error,omitempty"`
	Organisations int                   `json:"organisations"`
	People        int                   `json:"people"`
	Deleted       int                   `json:"deleted"`
	Skipped       int                   `json:"skipped"`
	Issues        []directory.SyncIssue `json:"issues,omitempty"`
}

type statusResponse struct {
	Organisations   int64       `json:"organisations"`
	Domains         int64       `json:"domains"`
	People          int64       `json:"people"`
	IndexGeneration int64       `json:"index_generation"`
	IndexLoadedAt   *time.Time  `json:"index_loaded_at"`
	LastSync        *syncStatus `json:"last_sync"`
}

// status reports counts and the last sync. The error text and skipped entries of a
// sync are operator information: other roles see the outcome only.
func (h *handlers) status(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), statusDBTimeout)
	defer cancel()
	counts, err := h.Status.Counts(ctx)
	if err != nil {
		_ = c.Error(err)
		return
	}
	snap := h.Directory.Snapshot()
	resp := statusResponse{Organisations: counts.Organisations, Domains: counts.Domains, People: counts.People,
		IndexGeneration: max(snap.Generation, 0)}
	if !snap.LoadedAt.IsZero() {
		resp.IndexLoadedAt = &snap.LoadedAt
	}
	run, err := h.Status.LastRun(ctx)
	switch {
	case err == nil:
		resp.LastSync = toSyncStatus(run, principal(c).Role == roleOperatorName)
	case !isNotFound(err):
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

func toSyncStatus(r directory.SyncRun, operator bool) *syncStatus {
	s := &syncStatus{ID: r.ID, Kind: r.Kind, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Outcome: r.Outcome,
		Organisations: r.Organisations, People: r.People, Deleted: r.Deleted, Skipped: r.Skipped}
	if operator {
		s.Error, s.Issues = r.Error, r.Issues
	}
	return s
}
