package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	orgUtrecht = "11111111-1111-4111-8111-111111111111"
	orgEde     = "22222222-2222-4222-8222-222222222222"
	orgReuse   = "33333333-3333-4333-8333-333333333333"
	orgRace    = "44444444-4444-4444-8444-444444444444"
	orgUnknown = "99999999-9999-4999-8999-999999999999"
)

var testNow = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// seed writes the organisations and their domains.
func seed(t *testing.T, db *database.DB) {
	t.Helper()
	for _, o := range []struct {
		id      string
		domains []string
	}{
		{orgUtrecht, []string{"utrecht.example", "xn--drpel-jua.example"}},
		{orgEde, []string{"ede.example", "sub.utrecht.example"}},
		{orgReuse, []string{"reuse.example"}},
		{orgRace, []string{"race.example"}},
	} {
		err := db.Exec("INSERT INTO organisations (id, source_id, name, status, created_at, updated_at) "+
			"VALUES (?, ?, ?, 'active', ?, ?)", o.id, "src-"+o.id, o.id, testNow, testNow).Error
		for _, d := range o.domains {
			if err == nil {
				err = db.Exec("INSERT INTO domains (name, organisation_id) VALUES (?, ?)", d, o.id).Error
			}
		}
		if err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
}

// RSA keys generated once: most tests need a key, not a fresh one.
var (
	sharedKey = sync.OnceValues(generateRSA)
	otherKey  = sync.OnceValues(generateRSA)
)

func newKeys(t *testing.T, db *database.DB, fresh bool) *Keys {
	t.Helper()
	k := NewKeys(db.DB, func() time.Time { return testNow }, WithLogger(testenv.Logger(t)))
	if !fresh {
		k.generate = sharedKey
	}
	return k
}

func testMessage(t *testing.T, from string) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := compose.Write(&buf, compose.Message{
		From:      compose.Address{Name: "Jörg Müller", Addr: from},
		To:        []compose.Address{{Name: "Piet", Addr: "piet@ede.example"}},
		Subject:   "Besluit op uw aanvraag",
		Text:      "Goedendag,\n\nHierbij het besluit.\n",
		MessageID: "<abc@veilig.example>",
		Date:      testNow,
		Attachments: []compose.Attachment{{Name: "besluit.pdf", ContentType: "application/pdf",
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("%PDF")), nil }}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lookup answers DKIM key queries from the records DNSRecords gave.
func lookup(records []DNSRecord) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		for _, r := range records {
			if r.Name == name && r.Purpose == PurposeDKIM {
				return []string{r.Value}, nil
			}
		}
		return nil, fmt.Errorf("no TXT record for %s", name)
	}
}

func verify(t *testing.T, msg []byte, records []DNSRecord) error {
	t.Helper()
	v, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup(records)})
	if err != nil {
		return err
	}
	if len(v) != 1 {
		t.Fatalf("%d signatures verified, want 1", len(v))
	}
	if v[0].Err == nil && v[0].Domain != "utrecht.example" {
		t.Fatalf("signature domain %q", v[0].Domain)
	}
	return v[0].Err
}

// TestKeys runs the key tests on one database per engine, each on its own
// organisation where it needs one without a key.
func TestKeys(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		seed(t, db)
		t.Run("sign and verify", func(t *testing.T) { testSignVerify(t, db) })
		t.Run("key reuse", func(t *testing.T) { testKeyReuse(t, db) })
		t.Run("concurrent creation", func(t *testing.T) { testConcurrentCreation(t, db) })
		t.Run("signer domains", func(t *testing.T) { testSignerDomains(t, db) })
		t.Run("DNS records", func(t *testing.T) { testDNSRecords(t, db) })
	})
}

func testSignVerify(t *testing.T, db *database.DB) {
	ctx := context.Background()
	keys := newKeys(t, db, false)
	signer, err := keys.Signer(ctx, orgUtrecht, "utrecht.example")
	if err != nil {
		t.Fatal(err)
	}
	msg := testMessage(t, "jorg@utrecht.example")
	header, err := signer.Sign(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(header, "DKIM-Signature: ") || !strings.HasSuffix(header, "\r\n") {
		t.Fatalf("header = %q", header)
	}
	records, err := keys.DNSRecords(ctx, orgUtrecht, []string{"utrecht.example"}, "")
	if err != nil {
		t.Fatal(err)
	}
	signed := append([]byte(header), msg...)
	if err := verify(t, signed, records); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, tag := range []string{"a=rsa-sha256", "c=relaxed/relaxed", "d=utrecht.example", "s=veilig202611"} {
		if !strings.Contains(unfold(header), tag) {
			t.Errorf("signature lacks %s: %s", tag, header)
		}
	}
	tamper(t, signed, records)
}

func unfold(s string) string { return strings.NewReplacer("\r\n", "", " ", "", "\t", "").Replace(s) }

// tamper checks which changes in transit break the signature.
func tamper(t *testing.T, signed []byte, records []DNSRecord) {
	s := string(signed)
	tests := []struct {
		name  string
		edit  func(string) string
		valid bool
	}{
		{"unchanged", func(s string) string { return s }, true},
		{"header refolded (relaxed)", func(s string) string {
			return strings.Replace(s, "Subject: Besluit op uw aanvraag", "Subject:   Besluit op\r\n\t uw aanvraag", 1)
		}, true},
		{"subject changed", func(s string) string { return strings.Replace(s, "aanvraag", "aanvraak", 1) }, false},
		{"body changed", func(s string) string { return strings.Replace(s, "Hierbij", "Hiermee", 1) }, false},
		{"attachment changed", func(s string) string { return strings.Replace(s, "JVBERg==", "JVBERh==", 1) }, false},
		{"second From added", func(s string) string {
			return strings.Replace(s, "To: ", "From: ceo@utrecht.example\r\nTo: ", 1)
		}, false},
		{"From prepended (oversigned)", func(s string) string { return "From: ceo@utrecht.example\r\n" + s }, false},
		{"Subject prepended (oversigned)", func(s string) string { return "Subject: Urgent\r\n" + s }, false},
		{"Cc added", func(s string) string { return strings.Replace(s, "To: ", "Cc: x@evil.example\r\nTo: ", 1) }, false},
		{"Reply-To added", func(s string) string {
			return strings.Replace(s, "To: ", "Reply-To: x@evil.example\r\nTo: ", 1)
		}, false},
	}
	for _, tt := range tests {
		err := verify(t, []byte(tt.edit(s)), records)
		if (err == nil) != tt.valid {
			t.Errorf("%s: verification error %v, want valid=%v", tt.name, err, tt.valid)
		}
	}
	other, err := otherKey()
	if err != nil {
		t.Fatal(err)
	}
	wrong := []DNSRecord{records[0]}
	wrong[0].Value = publicRecord(t, other)
	if err := verify(t, signed, wrong); err == nil {
		t.Error("verified against another key")
	}
}

func publicRecord(t *testing.T, s crypto.Signer) string {
	t.Helper()
	row, err := (&Keys{now: time.Now, generate: func() (crypto.Signer, error) { return s, nil }}).newRow("x")
	if err != nil {
		t.Fatal(err)
	}
	k, err := row.parse(testNow)
	if err != nil {
		t.Fatal(err)
	}
	return txtValue(k.public)
}

func testKeyReuse(t *testing.T, db *database.DB) {
	ctx := context.Background()
	first := newKeys(t, db, true)
	a, err := first.Signer(ctx, orgReuse, "reuse.example")
	if err != nil {
		t.Fatal(err)
	}
	if a.Selector() != "veilig202611" {
		t.Errorf("selector = %q", a.Selector())
	}
	// another process, a month later: the key is reused, not recreated
	later := NewKeys(db.DB, func() time.Time { return testNow.AddDate(0, 1, 0) })
	later.generate = func() (crypto.Signer, error) { return nil, errors.New("must not generate") }
	b, err := later.Signer(ctx, orgReuse, "mail.reuse.example")
	if err != nil {
		t.Fatal(err)
	}
	if b.Selector() != a.Selector() || !b.key.Public().(*rsa.PublicKey).Equal(a.key.Public()) {
		t.Errorf("second process got another key: %s", b.Selector())
	}
	if n := countKeys(t, db, orgReuse); n != 1 {
		t.Errorf("%d keys stored, want 1", n)
	}
}

func countKeys(t *testing.T, db *database.DB, orgID string) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&keyRow{}).Where("organisation_id = ?", orgID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// testConcurrentCreation has two processes create the first key at once:
// both generate a key before either stores it, and both must end up with the
// one that was stored.
func testConcurrentCreation(t *testing.T, db *database.DB) {
	var ready sync.WaitGroup
	ready.Add(2)
	procs := make([]*Keys, 2)
	for i, gen := range []func() (crypto.Signer, error){sharedKey, otherKey} {
		procs[i] = NewKeys(db.DB, func() time.Time { return testNow })
		procs[i].generate = func() (crypto.Signer, error) {
			ready.Done()
			ready.Wait() // both processes are past their lookup
			return gen()
		}
	}
	signers := make([]*Signer, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range signers {
		wg.Go(func() {
			signers[i], errs[i] = procs[i%2].Signer(context.Background(), orgRace, "race.example")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("signer %d: %v", i, err)
		}
		if !signers[i].key.Public().(*rsa.PublicKey).Equal(signers[0].key.Public()) {
			t.Errorf("signer %d has another key", i)
		}
	}
	if n := countKeys(t, db, orgRace); n != 1 {
		t.Errorf("%d keys stored, want 1", n)
	}
}

func testSignerDomains(t *testing.T, db *database.DB) {
	keys := newKeys(t, db, false)
	tests := []struct {
		org, domain string
		want        string
		err         error
	}{
		{orgUtrecht, "utrecht.example", "utrecht.example", nil},
		{orgUtrecht, "UTRECHT.example.", "utrecht.example", nil},
		{orgUtrecht, "afdeling.utrecht.example", "utrecht.example", nil},
		{orgUtrecht, "dörpel.example", "xn--drpel-jua.example", nil},
		{orgEde, "sub.utrecht.example", "sub.utrecht.example", nil},
		{orgEde, "deep.sub.utrecht.example", "sub.utrecht.example", nil},
		{orgUtrecht, "sub.utrecht.example", "", ErrUnknownDomain},
		{orgUtrecht, "ede.example", "", ErrUnknownDomain},
		{orgUtrecht, "elsewhere.example", "", ErrUnknownDomain},
		{orgUnknown, "utrecht.example", "", ErrUnknownDomain},
		{orgUtrecht, "not a domain", "", ErrInvalidDomain},
		{orgUtrecht, "example", "", ErrInvalidDomain},
	}
	for _, tt := range tests {
		s, err := keys.Signer(context.Background(), tt.org, tt.domain)
		if !errors.Is(err, tt.err) {
			t.Errorf("Signer(%s, %q) err = %v, want %v", tt.org[:4], tt.domain, err, tt.err)
			continue
		}
		if err == nil && s.Domain() != tt.want {
			t.Errorf("Signer(%s, %q) signs as %q, want %q", tt.org[:4], tt.domain, s.Domain(), tt.want)
		}
	}
}

func testDNSRecords(t *testing.T, db *database.DB) {
	ctx := context.Background()
	keys := newKeys(t, db, false)
	records, err := keys.DNSRecords(ctx, orgUtrecht,
		[]string{"utrecht.example", "Dörpel.example", "UTRECHT.EXAMPLE"}, "spf.veilig.example")
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := sharedKey()
	txt := publicRecord(t, shared)
	want := []DNSRecord{
		{Name: "veilig202611._domainkey.utrecht.example", Type: "TXT", Value: txt, Purpose: PurposeDKIM},
		{Name: "utrecht.example", Type: "TXT", Value: "include:spf.veilig.example", Purpose: PurposeSPFInclude},
		{Name: "veilig202611._domainkey.xn--drpel-jua.example", Type: "TXT", Value: txt, Purpose: PurposeDKIM},
		{Name: "xn--drpel-jua.example", Type: "TXT", Value: "include:spf.veilig.example", Purpose: PurposeSPFInclude},
	}
	if diff := cmp.Diff(want, records); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(txt, "v=DKIM1; k=rsa; p=MIIBIjAN") {
		t.Errorf("record value %q", txt)
	}
	records, err = keys.DNSRecords(ctx, orgUtrecht, []string{"utrecht.example"}, "")
	if err != nil || len(records) != 1 {
		t.Errorf("without SPF include: %v, %v", records, err)
	}
	if _, err := keys.DNSRecords(ctx, orgUnknown, []string{"x.example"}, ""); !errors.Is(err, ErrUnknownOrganisation) {
		t.Errorf("unknown organisation: err = %v", err)
	}
	if _, err := keys.DNSRecords(ctx, orgUtrecht, []string{"bad domain"}, ""); !errors.Is(err, ErrInvalidDomain) {
		t.Errorf("bad domain: err = %v", err)
	}
	if _, err := keys.DNSRecords(ctx, orgUtrecht, []string{"utrecht.example"}, "a b ~all"); !errors.Is(err, ErrInvalidDomain) {
		t.Errorf("bad SPF include: err = %v", err)
	}
}
