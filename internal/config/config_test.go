package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrecedence(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, rest, err := Load(fs, []string{"--http-addr", "127.0.0.1:9999", "extra"}, env(map[string]string{
		"VEILIG_HTTP_ADDR": "127.0.0.1:7777", "VEILIG_LDAP_SYNC_INTERVAL": "5m", "VEILIG_LDAP_STARTTLS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9999" {
		t.Errorf("flag must override env: HTTPAddr = %q", c.HTTPAddr)
	}
	if c.LDAPSyncInterval != 5*time.Minute || !c.LDAPStartTLS || c.DatabaseURL != "data/veilig.db" {
		t.Errorf("env/defaults not applied: %+v", c)
	}
	if len(rest) != 1 || rest[0] != "extra" {
		t.Errorf("rest = %v", rest)
	}
}

func TestLoadRejects(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"bad duration":       {"VEILIG_LDAP_SYNC_INTERVAL": "soon"},
		"bad preset":         {"VEILIG_LDAP_PRESET": "novell"},
		"ldap without base":  {"VEILIG_LDAP_URL": "ldap://ldap.test"},
		"negative body":      {"VEILIG_MAX_BODY_BYTES": "-1"},
		"token ttl too long": {"VEILIG_ACCESS_TOKEN_TTL": "24h"},
		"zero index refresh": {"VEILIG_INDEX_REFRESH": "0s"},
		"relay without auth": {"VEILIG_DELIVERY_RELAY": "relay.example:587"},
		"submission w/o tls": {"VEILIG_SUBMISSION_ADDR": "127.0.0.1:587"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		if _, _, err := Load(fs, nil, env(e)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c, _, err := Load(fs, nil, env(map[string]string{
		"VEILIG_LDAP_BIND_PASSWORD": "hunter2-secret", "VEILIG_DATABASE_URL": "postgres://v:pg-secret@db/v",
		"VEILIG_LDAP_URL": "ldap://ldap.test", "VEILIG_LDAP_BASE_DN": "dc=test",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, v := range c.Masked() {
		b.WriteString(v.(string) + " ")
	}
	for _, secret := range []string{"hunter2-secret", "pg-secret"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("Masked() shows %q: %s", secret, b.String())
		}
	}
	if !strings.Contains(b.String(), "ldap://ldap.test") {
		t.Errorf("Masked() hides a non-secret: %s", b.String())
	}
}

// TestREADMEHasConfigTable keeps the README's configuration table in step with the struct.
func TestREADMEHasConfigTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), Table()) {
		t.Error("README.md's configuration table is stale: replace it with the output of `veilig config`")
	}
}
