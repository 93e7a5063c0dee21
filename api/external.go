package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/message"
)

// Revoker withdraws a sender's message (message.Service).
type Revoker interface {
	Revoke(ctx context.Context, from message.Sender, id string) error
}

// Unlocker lifts the code lock of a sender's external recipient (external.Service).
type Unlocker interface {
	Unlock(ctx context.Context, from message.Sender, id, address string) error
}

// Registrar adds its own routes (the viewer, the dev mailbox).
type Registrar interface {
	Register(r gin.IRouter)
}

// revokeMessage is POST /api/v1/messages/{id}/revoke: the message is withdrawn
// and its content destroyed; external recipients see it withdrawn. Repeating it
// is harmless.
func (h *handlers) revokeMessage(c *gin.Context) {
	id := c.Param("id")
	if len(id) == 0 || len(id) > maxMessageIDLen {
		_ = c.Error(newError(kindNotFound, "no such message"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), messageDBTimeout)
	defer cancel()
	if err := h.Revoker.Revoke(ctx, h.sender(c), id); err != nil {
		_ = c.Error(err)
		return
	}
	h.respondStatus(c, ctx, id)
}

// unlockRecipient is POST /api/v1/messages/{id}/recipients/{address}/unlock.
func (h *handlers) unlockRecipient(c *gin.Context) {
	id := c.Param("id")
	address, err := url.PathUnescape(c.Param("address"))
	if len(id) == 0 || len(id) > maxMessageIDLen || err != nil || len(address) > 320 {
		_ = c.Error(newError(kindNotFound, "no such recipient"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), messageDBTimeout)
	defer cancel()
	if err := h.Unlocker.Unlock(ctx, h.sender(c), id, address); err != nil {
		_ = c.Error(err)
		return
	}
	h.respondStatus(c, ctx, id)
}

// respondStatus answers with the message's current status.
func (h *handlers) respondStatus(c *gin.Context, ctx context.Context, id string) {
	st, err := h.Messages.Get(ctx, h.sender(c), id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toMessageView(st))
}
