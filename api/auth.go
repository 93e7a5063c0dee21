package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/auth"
)

// Login issues tokens (OAuth 2.0-style grants, RFC 6749 §4.3 and §6).
type Login interface {
	PasswordGrant(ctx context.Context, email, password, clientIP string) (auth.TokenPair, error)
	RefreshGrant(ctx context.Context, refreshToken, clientIP string) (auth.TokenPair, error)
	// Logout revokes a refresh token's family (RFC 7009); unknown tokens are ignored.
	Logout(ctx context.Context, refreshToken string) error
}

type revokeRequest struct {
	Token string `json:"token"`
}

// revoke is POST /api/v1/auth/revoke (RFC 7009, JSON body): signing out. The
// refresh token and every token rotated from it stop working; access tokens
// expire within their short lifetime. An unknown token is answered alike (200),
// so the endpoint tells nothing about which tokens exist.
func (h *handlers) revoke(c *gin.Context) {
	var req revokeRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if req.Token == "" || len(req.Token) > 512 {
		_ = c.Error(newError(kindInvalidParameter, "token is required").
			withFields(FieldProblem{Field: "token", Detail: "the refresh token"}))
		return
	}
	if err := h.Login.Logout(c.Request.Context(), req.Token); err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"revoked": true})
}

// TokenVerifier checks access tokens and publishes the keys that sign them.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (auth.Principal, error)
	JWKS(ctx context.Context) (auth.JWKS, error)
}

type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func (h *handlers) token(c *gin.Context) {
	var req tokenRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	pair, err := h.grant(c, req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Header("Pragma", "no-cache")
	c.JSON(http.StatusOK, tokenResponse{AccessToken: pair.AccessToken, TokenType: "Bearer",
		ExpiresIn: pair.ExpiresIn, RefreshToken: pair.RefreshToken})
}

func (h *handlers) grant(c *gin.Context, req tokenRequest) (auth.TokenPair, error) {
	ctx := c.Request.Context()
	switch req.GrantType {
	case "password":
		if req.Username == "" || req.Password == "" {
			return auth.TokenPair{}, newError(kindInvalidParameter, "username and password are required")
		}
		return h.Login.PasswordGrant(ctx, req.Username, req.Password, c.ClientIP())
	case "refresh_token":
		if req.RefreshToken == "" {
			return auth.TokenPair{}, newError(kindInvalidParameter, "refresh_token is required")
		}
		return h.Login.RefreshGrant(ctx, req.RefreshToken, c.ClientIP())
	default:
		return auth.TokenPair{}, newError(kindInvalidParameter, "grant_type must be password or refresh_token").
			withFields(FieldProblem{Field: "grant_type", Detail: "password or refresh_token"})
	}
}

func (h *handlers) jwks(c *gin.Context) {
	set, err := h.Tokens.JWKS(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, set)
}

// authenticate requires a valid bearer access token (RFC 6750) and stores the
// principal for the handlers. Tokens are accepted from the header only, never
// from the URL (ASVS 14.2.1).
func (h *handlers) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			c.Header("WWW-Authenticate", `Bearer realm="veilig"`)
			_ = c.Error(newError(kindUnauthorized, "send a bearer access token"))
			c.Abort()
			return
		}
		p, err := h.Tokens.Verify(c.Request.Context(), token)
		if err != nil && !errors.Is(err, auth.ErrInvalidToken) {
			_ = c.Error(err) // the database could not answer: 503 (or 500), not the caller's fault
			c.Abort()
			return
		}
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="veilig", error="invalid_token"`)
			_ = c.Error(newError(kindUnauthorized, "the access token is not valid").withCause(err))
			c.Abort()
			return
		}
		c.Set(ctxPrincipal, p)
		withPrincipal(c, p)
		c.Next()
	}
}

func principal(c *gin.Context) auth.Principal {
	p, _ := c.Get(ctxPrincipal)
	pr, _ := p.(auth.Principal)
	return pr
}

func principalID(c *gin.Context) string { return principal(c).UserID }
