package main

import (
	"bufio"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"unicode/utf8"
)

const (
	maxQueries   = 1_000_000
	maxLineBytes = 1 << 20
	minPrefix    = 2
	maxPrefix    = 5
)

var errNoQueries = errors.New("loadgen: no queries")

// ldifAttrs are the LDIF attributes (RFC 2849, names lower-cased) that a user
// would start typing: organisation, full name, given name, surname, mail.
var ldifAttrs = map[string]bool{"o": true, "cn": true, "givenname": true, "sn": true, "mail": true}

// loadQueries reads -queries, or derives prefixes from -ldif.
func loadQueries(cfg config) ([]string, error) {
	name := cmp.Or(cfg.queries, cfg.ldif)
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("loadgen: open queries: %w", err)
	}
	defer f.Close()
	var qs []string
	if cfg.queries != "" {
		qs, err = readQueries(f)
	} else {
		qs, err = derivePrefixes(f, cfg.prefixes, cfg.seed)
	}
	if err == nil && len(qs) == 0 {
		err = fmt.Errorf("%w in %s", errNoQueries, name)
	}
	return qs, err
}

// readQueries returns the non-blank lines of r, trimmed.
func readQueries(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var qs []string
	for sc.Scan() {
		if q := strings.TrimSpace(sc.Text()); q != "" {
			if len(qs) == maxQueries {
				return nil, fmt.Errorf("loadgen: more than %d queries", maxQueries)
			}
			qs = append(qs, q)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: read queries: %w", err)
	}
	return qs, nil
}

// derivePrefixes reservoir-samples count values of ldifAttrs from an LDIF
// stream (bounded memory whatever its size) and cuts each, lower-cased, to
// 2–5 runes. The result depends only on the input and seed.
func derivePrefixes(r io.Reader, count int, seed uint64) ([]string, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sample := make([]string, 0, count)
	seen := 0
	err := eachLDIFValue(r, func(v string) {
		seen++
		if len(sample) < count {
			sample = append(sample, v)
		} else if j := rng.IntN(seen); j < count {
			sample[j] = v
		}
	})
	if err != nil {
		return nil, err
	}
	out := sample[:0]
	for _, v := range sample {
		if p := cutPrefix(v, minPrefix+rng.IntN(maxPrefix-minPrefix+1)); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// cutPrefix returns the first n runes of v, lower-cased and trimmed, or ""
// if fewer than minPrefix runes remain.
func cutPrefix(v string, n int) string {
	v = strings.ToLower(strings.TrimSpace(v))
	i, runes := 0, 0
	for i < len(v) && runes < n {
		_, size := utf8.DecodeRuneInString(v[i:])
		i += size
		runes++
	}
	p := strings.TrimSpace(v[:i])
	if utf8.RuneCountInString(p) < minPrefix {
		return ""
	}
	return p
}

// eachLDIFValue calls fn for every value of ldifAttrs, unfolding continuation
// lines and decoding base64 ("attr:: …") values; mail yields its local part.
func eachLDIFValue(r io.Reader, fn func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var line strings.Builder
	flush := func() {
		if v, ok := ldifValue(line.String()); ok {
			fn(v)
		}
		line.Reset()
	}
	for sc.Scan() {
		t := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(t, " ") {
			line.WriteString(t[1:])
			continue
		}
		flush()
		line.WriteString(t)
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("loadgen: read ldif: %w", err)
	}
	return nil
}

// ldifValue parses one unfolded "attr[;opts]: value" line.
func ldifValue(line string) (string, bool) {
	attr, val, ok := strings.Cut(line, ":")
	if !ok || strings.HasPrefix(line, "#") {
		return "", false
	}
	attr, _, _ = strings.Cut(strings.ToLower(attr), ";")
	if !ldifAttrs[attr] {
		return "", false
	}
	if b64, ok := strings.CutPrefix(val, ":"); ok {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || !utf8.Valid(dec) {
			return "", false
		}
		val = string(dec)
	} else if strings.HasPrefix(val, "<") {
		return "", false // URL reference: not followed
	}
	val = strings.TrimSpace(val)
	if attr == "mail" {
		val, _, _ = strings.Cut(val, "@")
	}
	return val, utf8.RuneCountInString(val) >= minPrefix
}
