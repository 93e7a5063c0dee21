package ldapsync

import (
	"encoding/json"
	"fmt"
)

// syncState is the stored incremental-sync position: one RFC 4533 cookie per
// search (organisations, people) and the fingerprint of the settings it belongs to.
type syncState struct {
	Version     int    `json:"v"`
	Fingerprint string `json:"config"`
	Orgs        []byte `json:"orgs"`
	People      []byte `json:"people"`
}

const stateVersion = 1

func decodeState(raw string) (syncState, error) {
	var st syncState
	if raw == "" {
		return st, fmt.Errorf("no sync position")
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, fmt.Errorf("decode sync position: %w", err)
	}
	if st.Version != stateVersion || len(st.Orgs) == 0 || len(st.People) == 0 {
		return st, fmt.Errorf("unusable sync position")
	}
	return st, nil
}

func (st syncState) encode() (string, error) {
	st.Version = stateVersion
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("ldapsync: encode sync position: %w", err)
	}
	return string(b), nil
}
