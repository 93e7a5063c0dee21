package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/detect"
)

// Detector finds sensitive data in text (internal/detect, the same rules as the
// add-ins' addin/core/detector.js).
type Detector interface {
	Detect(text string) []detect.Match
	Patterns() []detect.Pattern
}

// maxDetectText bounds the text one detect request may carry (a message body).
const maxDetectText = 512 << 10

type detectRequest struct {
	Text string `json:"text"`
}

type findingView struct {
	Kind  string `json:"kind"`
	Match string `json:"match"`
	Index int    `json:"index"`
}

type detectResponse struct {
	Sensitive bool          `json:"sensitive"`
	Findings  []findingView `json:"findings"`
}

// detectText is POST /api/v1/detect: for a mail gateway that wants to offer
// secure sending for normal outgoing mail, the same check the add-ins run
// locally. The text is neither stored nor logged.
func (h *handlers) detectText(c *gin.Context) {
	var req detectRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if len(req.Text) > maxDetectText {
		_ = c.Error(newError(kindTooLarge, "text is limited to 512 KiB"))
		return
	}
	resp := detectResponse{Findings: []findingView{}}
	for _, m := range h.Detector.Detect(req.Text) {
		resp.Findings = append(resp.Findings, findingView{Kind: m.Kind, Match: m.Match, Index: m.Index})
	}
	resp.Sensitive = len(resp.Findings) > 0
	c.JSON(http.StatusOK, resp)
}

// detectPatterns is GET /api/v1/detect/patterns: the organisation-wide extra
// patterns, which the add-ins fetch and add to their built-in BSN and IBAN checks.
func (h *handlers) detectPatterns(c *gin.Context) {
	ps := h.Detector.Patterns()
	if ps == nil {
		ps = []detect.Pattern{}
	}
	c.JSON(http.StatusOK, gin.H{"patterns": ps})
}
