package testenv

import (
	"encoding/json"
	"strings"
	"testing"
)

// AssertNoSecrets fails the test when v, marshalled to JSON as it would be
// stored or exported (audit events, log records), contains one of secrets.
// Empty secrets are ignored; a secret found is shown by its first bytes only.
func AssertNoSecrets(t testing.TB, v any, secrets ...string) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(raw), s) {
			t.Errorf("%T contains a secret %.8q…", v, s)
		}
	}
}
