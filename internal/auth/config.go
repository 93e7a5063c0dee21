package auth

import (
	"fmt"
	"runtime"
	"time"
)

// Config holds the tunables of the Service. Zero fields take the defaults of
// DefaultConfig; Issuer and Audience are required.
type Config struct {
	Issuer   string // "iss" of access tokens, e.g. "https://veilig.example.nl"
	Audience string // "aud" of access tokens, e.g. "https://veilig.example.nl/api"

	AccessTokenTTL  time.Duration // access token lifetime; default 15m
	RefreshTokenTTL time.Duration // absolute lifetime of a refresh token family; default 30 days
	Leeway          time.Duration // clock skew allowed on exp, nbf and iat; default 30s

	KeySignPeriod     time.Duration // how long a signing key signs; default 30 days
	KeyVerifyGrace    time.Duration // how long a key still verifies after it stops signing; default 24h
	KeyReloadInterval time.Duration // least time between reloads of the key table; default 10s

	Argon2              Argon2Params // default DefaultArgon2Params (OWASP: m=19 MiB, t=2, p=1)
	MaxConcurrentHashes int          // Argon2id hashes run at once (each takes Memory); default 2×CPUs

	LDAPTimeout time.Duration // bound on one PasswordVerifier call; default 10s

	RateLimit RateLimitConfig
}

// RateLimitConfig bounds login attempts (OWASP ASVS 5.0 6.3.1, NIST SP 800-63B
// §5.2.2). Attempts are counted as failures when they start and forgiven when they
// succeed, so concurrent guesses cannot slip past the limits. The counters are
// kept in the database (package ratelimit), shared by every serve process.
type RateLimitConfig struct {
	AccountFreeFailures int           // failures per account and client address before backoff starts; default 5
	AccountBaseDelay    time.Duration // wait after the first failure beyond those, doubling per failure; default 30s
	AccountMaxDelay     time.Duration // cap on that wait; default 15m
	AccountForgetAfter  time.Duration // an account's failures are forgotten after this idle time; default 24h
	ClientPerMinute     int           // sustained failed attempts per client address (IPv6: per /64); default 30
	ClientBurst         int           // failed attempts a client address may make at once; default 30
}

// DefaultConfig returns the defaults, without Issuer and Audience.
func DefaultConfig() Config {
	return Config{
		AccessTokenTTL:      15 * time.Minute,
		RefreshTokenTTL:     30 * 24 * time.Hour,
		Leeway:              30 * time.Second,
		KeySignPeriod:       30 * 24 * time.Hour,
		KeyVerifyGrace:      24 * time.Hour,
		KeyReloadInterval:   10 * time.Second,
		Argon2:              DefaultArgon2Params(),
		MaxConcurrentHashes: 2 * runtime.NumCPU(),
		LDAPTimeout:         10 * time.Second,
		RateLimit: RateLimitConfig{
			AccountFreeFailures: 5,
			AccountBaseDelay:    30 * time.Second,
			AccountMaxDelay:     15 * time.Minute,
			AccountForgetAfter:  24 * time.Hour,
			ClientPerMinute:     30,
			ClientBurst:         30,
		},
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDuration(&c.AccessTokenTTL, d.AccessTokenTTL)
	setDuration(&c.RefreshTokenTTL, d.RefreshTokenTTL)
	setDuration(&c.Leeway, d.Leeway)
	setDuration(&c.KeySignPeriod, d.KeySignPeriod)
	setDuration(&c.KeyVerifyGrace, d.KeyVerifyGrace)
	setDuration(&c.KeyReloadInterval, d.KeyReloadInterval)
	setDuration(&c.LDAPTimeout, d.LDAPTimeout)
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = d.Argon2
	}
	setInt(&c.MaxConcurrentHashes, d.MaxConcurrentHashes)
	c.RateLimit = c.RateLimit.withDefaults(d.RateLimit)
	return c
}

func (r RateLimitConfig) withDefaults(d RateLimitConfig) RateLimitConfig {
	setInt(&r.AccountFreeFailures, d.AccountFreeFailures)
	setDuration(&r.AccountBaseDelay, d.AccountBaseDelay)
	setDuration(&r.AccountMaxDelay, d.AccountMaxDelay)
	setDuration(&r.AccountForgetAfter, d.AccountForgetAfter)
	setInt(&r.ClientPerMinute, d.ClientPerMinute)
	setInt(&r.ClientBurst, d.ClientBurst)
	return r
}

func setDuration(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

// validate checks a configuration after withDefaults.
func (c Config) validate() error {
	switch {
	case c.Issuer == "" || c.Audience == "":
		return fmt.Errorf("%w: Issuer and Audience are required", ErrInvalidConfig)
	case c.AccessTokenTTL < 0 || c.RefreshTokenTTL < 0 || c.Leeway < 0 || c.KeySignPeriod < 0 ||
		c.KeyReloadInterval < 0 || c.LDAPTimeout < 0 || c.MaxConcurrentHashes < 0:
		return fmt.Errorf("%w: negative duration or count", ErrInvalidConfig)
	case c.KeyVerifyGrace < c.AccessTokenTTL+c.Leeway:
		return fmt.Errorf("%w: KeyVerifyGrace (%s) must cover AccessTokenTTL+Leeway (%s)",
			ErrInvalidConfig, c.KeyVerifyGrace, c.AccessTokenTTL+c.Leeway)
	}
	if err := c.Argon2.validate(); err != nil {
		return err
	}
	return c.RateLimit.validate()
}

func (r RateLimitConfig) validate() error {
	if r.AccountFreeFailures < 0 || r.AccountBaseDelay < 0 || r.AccountMaxDelay < r.AccountBaseDelay ||
		r.AccountForgetAfter < 0 || r.ClientPerMinute < 0 || r.ClientBurst < 1 {
		return fmt.Errorf("%w: rate limits", ErrInvalidConfig)
	}
	return nil
}
