package ldapsync

import (
	"encoding/json"
	"fmt"
	"time"
)

// Incremental-sync modes recorded in the position.
const (
	modeContentSync = "contentsync" // RFC 4533 refreshOnly with cookies
	modePoll        = "poll"        // change-counter polling (poll.go)
)

// syncState is the stored incremental-sync position and the fingerprint of the
// settings it belongs to. Version 1 held RFC 4533 cookies only; version 2 names
// its mode and may hold a polling position instead.
type syncState struct {
	Version     int        `json:"v"`
	Fingerprint string     `json:"config"`
	Mode        string     `json:"mode,omitempty"`
	Orgs        []byte     `json:"orgs,omitempty"`   // content sync: cookie of the organisation search
	People      []byte     `json:"people,omitempty"` // content sync: cookie of the people search
	Poll        *pollState `json:"poll,omitempty"`
}

// pollState is a change-polling position.
type pollState struct {
	Attr string `json:"attr"` // attrUSN or attrTimestamp

	// uSNChanged (Active Directory): the DC's highestCommittedUSN when the run
	// that wrote this began, the DC's identity, and the naming context
	// searched for tombstones.
	USN        int64  `json:"usn,omitempty"`
	DSA        string `json:"dsa,omitempty"`        // dsServiceName
	Invocation string `json:"invocation,omitempty"` // invocationId of the DSA
	NC         string `json:"nc,omitempty"`

	// modifyTimestamp: the next run reads entries with modifyTimestamp >= Since,
	// and finds deletions against the id lists stored under idsStateName, whose
	// digest is IDs.
	Since time.Time `json:"since,omitzero"`
	IDs   string    `json:"ids,omitempty"`
}

const stateVersion = 2

func decodeState(raw string) (syncState, error) {
	var st syncState
	if raw == "" {
		return st, fmt.Errorf("no sync position")
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, fmt.Errorf("decode sync position: %w", err)
	}
	if st.Version == 1 && st.Mode == "" {
		st.Mode = modeContentSync
	}
	if (st.Version != 1 && st.Version != stateVersion) || !st.usable() {
		return st, fmt.Errorf("unusable sync position")
	}
	return st, nil
}

// usable reports whether the position has what its mode needs.
func (st syncState) usable() bool {
	switch st.Mode {
	case modeContentSync:
		return len(st.Orgs) > 0 && len(st.People) > 0
	case modePoll:
		return st.Poll != nil && st.Poll.usable()
	}
	return false
}

func (p *pollState) usable() bool {
	switch p.Attr {
	case attrUSN:
		return p.USN > 0 && p.DSA != "" && p.Invocation != "" && p.NC != ""
	case attrTimestamp:
		return p.IDs != ""
	}
	return false
}

func (st syncState) encode() (string, error) {
	st.Version = stateVersion
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("ldapsync: encode sync position: %w", err)
	}
	return string(b), nil
}
