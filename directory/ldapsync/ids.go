package ldapsync

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// idsStateName is where the modifyTimestamp poll keeps the ids of every entry
// the directory may hold: OpenLDAP without a content-sync provider keeps no
// record of deleted entries, so deletions are what disappeared from this list.
// It is stored apart from the position so that a run that adds and deletes
// nothing does not rewrite it.
const idsStateName = StateName + ".ids"

// maxIDsBytes bounds the decompressed id lists (some 10 million ids).
const maxIDsBytes = 512 << 20

// idLists holds sorted, duplicate-free source ids.
type idLists struct {
	Orgs   []string `json:"orgs"`
	People []string `json:"people"`
}

func (l *idLists) normalise() {
	slices.Sort(l.Orgs)
	l.Orgs = slices.Compact(l.Orgs)
	slices.Sort(l.People)
	l.People = slices.Compact(l.People)
}

// encode returns the lists as base64 of gzipped JSON (the state column is
// text), and the digest the position records.
func (l idLists) encode() (raw, digest string, err error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return "", "", err
	}
	if err := json.NewEncoder(zw).Encode(l); err != nil {
		return "", "", fmt.Errorf("ldapsync: encode id lists: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", "", fmt.Errorf("ldapsync: encode id lists: %w", err)
	}
	raw = base64.StdEncoding.EncodeToString(buf.Bytes())
	return raw, idsDigest(raw), nil
}

func idsDigest(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:12])
}

// decodeIDs decodes stored lists and checks them against the position's digest.
func decodeIDs(raw, digest string) (idLists, error) {
	var l idLists
	if raw == "" || idsDigest(raw) != digest {
		return l, errors.New("stored id lists do not belong to the sync position")
	}
	zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, strings.NewReader(raw)))
	if err != nil {
		return l, fmt.Errorf("decode id lists: %w", err)
	}
	if err := json.NewDecoder(io.LimitReader(zr, maxIDsBytes)).Decode(&l); err != nil {
		return l, fmt.Errorf("decode id lists: %w", err)
	}
	l.normalise()
	return l, nil
}

// missing returns the ids of had that are not in now; both are sorted.
func missing(had, now []string) []string {
	var out []string
	j := 0
	for _, id := range had {
		for j < len(now) && now[j] < id {
			j++
		}
		if j == len(now) || now[j] != id {
			out = append(out, id)
		}
	}
	return out
}

// union returns the sorted union of the sorted list a and the ids of b.
func union(a []string, b map[string]bool) []string {
	out := slices.Grow(slices.Clone(a), len(b))
	for id := range b {
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
