package api

import (
	"context"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/directory/search"
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

// Search and resolve limits (issue contract).
const (
	minQueryLen      = 2
	maxQueryLen      = 100
	defaultLimit     = 10
	maxLimit         = 50
	maxResolveAddrs  = 500
	statusDBTimeout  = 5 * time.Second
	roleOperatorName = "operator"
)

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
	c.JSON(http.StatusOK, gin.H{"results": out})
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
	c.JSON(http.StatusOK, gin.H{"recipients": h.Directory.Snapshot().Resolve(req.Addresses)})
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
