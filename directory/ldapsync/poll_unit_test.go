package ldapsync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
)

// Plain data for a domain controller.
const (
	testNC     = "DC=example,DC=test"
	testChild  = "DC=child,DC=example,DC=test"
	testDSA    = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration," + testNC
	testBaseAD = "OU=Gemeenten," + testChild
)

func rootDSE(attrs map[string][]string) record {
	return recordFromEntry(ldap.NewEntry("", attrs))
}

func TestParseRootDSE(t *testing.T) {
	full := func() map[string][]string {
		return map[string][]string{
			"highestCommittedUSN": {"48213"},
			"dsServiceName":       {testDSA},
			"namingContexts":      {testNC, "CN=Configuration," + testNC, "CN=Schema,CN=Configuration," + testNC, testChild},
		}
	}
	tests := []struct {
		name    string
		change  func(map[string][]string)
		base    string
		want    dcInfo
		wantErr bool
	}{
		{"deepest naming context", func(map[string][]string) {}, testBaseAD,
			dcInfo{usn: 48213, dsa: testDSA, nc: testChild}, false},
		{"base in the parent domain", func(map[string][]string) {}, "OU=Orgs," + testNC,
			dcInfo{usn: 48213, dsa: testDSA, nc: testNC}, false},
		{"naming context spelled differently", func(a map[string][]string) { a["namingContexts"] = []string{"dc=Example, dc=TEST"} },
			"OU=Orgs," + testNC, dcInfo{usn: 48213, dsa: testDSA, nc: "dc=Example, dc=TEST"}, false},
		{"not Active Directory", func(a map[string][]string) { delete(a, "highestCommittedUSN") }, testBaseAD, dcInfo{}, true},
		{"USN not a number", func(a map[string][]string) { a["highestCommittedUSN"] = []string{"many"} }, testBaseAD, dcInfo{}, true},
		{"USN zero", func(a map[string][]string) { a["highestCommittedUSN"] = []string{"0"} }, testBaseAD, dcInfo{}, true},
		{"no dsServiceName", func(a map[string][]string) { delete(a, "dsServiceName") }, testBaseAD, dcInfo{}, true},
		{"base outside every naming context", func(map[string][]string) {}, "OU=Orgs,DC=other,DC=test", dcInfo{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := full()
			tc.change(attrs)
			got, err := parseRootDSE(rootDSE(attrs), tc.base)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseRootDSE = %+v, %v; want error %v", got, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnsupported) {
				t.Errorf("error %v is not ErrUnsupported", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(dcInfo{})); diff != "" {
				t.Errorf("dcInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseInvocation(t *testing.T) {
	raw := string([]byte{0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x10, 0x11, 0x12})
	got, err := parseInvocation(rootDSE(map[string][]string{"invocationId": {raw}}))
	if err != nil || got != "0d0c0b0a-0201-0403-0506-070809101112" {
		t.Errorf("parseInvocation = %q, %v", got, err)
	}
	if _, err := parseInvocation(rootDSE(map[string][]string{"cn": {"NTDS Settings"}})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no invocationId: %v, want ErrUnsupported", err)
	}
}

func TestCheckDC(t *testing.T) {
	prev := &pollState{Attr: attrUSN, USN: 5000, DSA: testDSA, Invocation: "inv-1", NC: testChild}
	same := dcInfo{usn: 5000, dsa: testDSA, invocation: "inv-1", nc: testChild}
	tests := []struct {
		name   string
		change func(*dcInfo)
		full   bool // a full sync must follow
	}{
		{"nothing changed", func(*dcInfo) {}, false},
		{"USN advanced", func(d *dcInfo) { d.usn = 7000 }, false},
		{"DSA name in another case", func(d *dcInfo) { d.dsa = strings.ToLower(testDSA) }, false},
		{"USN went backwards", func(d *dcInfo) { d.usn = 4999 }, true},
		{"another domain controller", func(d *dcInfo) { d.dsa = strings.Replace(testDSA, "DC1", "DC2", 1) }, true},
		{"database restored (new invocationId)", func(d *dcInfo) { d.invocation = "inv-2"; d.usn = 9000 }, true},
		{"another naming context", func(d *dcInfo) { d.nc = testNC }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dc := same
			tc.change(&dc)
			err := checkDC(prev, dc)
			if (err != nil) != tc.full || (err != nil && !errors.Is(err, errRefreshRequired)) {
				t.Errorf("checkDC = %v, want a full sync: %v", err, tc.full)
			}
		})
	}
}

func TestTombstoneRequest(t *testing.T) {
	req := tombstoneRequest(testChild, "objectGUID", 5000)
	type request struct {
		Base, Filter string
		Scope        int
		Attrs        []string
		Controls     []string
	}
	got := request{Base: req.BaseDN, Filter: req.Filter, Scope: req.Scope, Attrs: req.Attributes}
	for _, c := range req.Controls {
		s, ok := c.(*ldap.ControlString)
		if !ok {
			t.Fatalf("control %T, want a plain control", c)
		}
		got.Controls = append(got.Controls, s.ControlType+" critical="+map[bool]string{true: "yes", false: "no"}[s.Criticality]+
			" value="+s.ControlValue)
	}
	want := request{
		Base:     "CN=Deleted Objects," + testChild,
		Filter:   "(&(isDeleted=TRUE)(uSNChanged>=5001))",
		Scope:    ldap.ScopeWholeSubtree,
		Attrs:    []string{"objectGUID"},
		Controls: []string{"1.2.840.113556.1.4.417 critical=yes value="},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tombstone request (-want +got):\n%s", diff)
	}
	if _, err := ldap.CompileFilter(req.Filter); err != nil {
		t.Errorf("filter does not compile: %v", err)
	}
	// The tombstones' objectGUIDs map to the ids the live entries had.
	m := mapper{&settings{idAttr: "objectGUID", binaryID: true}}
	raw := string([]byte{0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x10, 0x11, 0x12})
	tomb := recordFromEntry(ldap.NewEntry(`CN=Jan\0ADEL:0d0c0b0a-0201-0403-0506-070809101112,CN=Deleted Objects,`+testChild,
		map[string][]string{"objectGUID": {raw}}))
	if got := m.attrID(tomb); got != "0d0c0b0a-0201-0403-0506-070809101112" {
		t.Errorf("tombstone id = %q", got)
	}
}

func TestChangeFilters(t *testing.T) {
	s, err := Config{Preset: PresetAD}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ got, want string }{
		{usnFilter(5000), "(uSNChanged>=5001)"},
		{"(&" + s.PersonFilter + usnFilter(0) + ")",
			"(&(&(objectCategory=person)(objectClass=user)(mail=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))(uSNChanged>=1))"},
		{generalizedTime(time.Date(2026, 3, 4, 5, 6, 7, 8e8, time.FixedZone("CET", 3600))), "20260304040607Z"},
		{generalizedTime(time.Time{}), "19700101000000Z"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
		if strings.HasPrefix(tc.want, "(") {
			if _, err := ldap.CompileFilter(tc.got); err != nil {
				t.Errorf("%s does not compile: %v", tc.got, err)
			}
		}
	}
}

func TestNextSince(t *testing.T) {
	at := func(s string) time.Time {
		ts, err := time.Parse(generalizedTimeLayout, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	prev := at("20261126120000Z")
	tests := []struct {
		name    string
		newest  time.Time
		elapsed time.Duration
		want    time.Time
	}{
		{"nothing read", time.Time{}, time.Second, prev},
		{"newest minus the reads and the margin", at("20261126130000Z"), 3 * time.Second, at("20261126125956Z")},
		{"truncated to the second", at("20261126130000Z"), 1500 * time.Millisecond, at("20261126125957Z")},
		{"never backwards", at("20261126120001Z"), 5 * time.Second, prev},
		{"fractions and offsets in the timestamp", at("20261126140000.5+0100"), 0, at("20261126125959Z")},
	}
	for _, tc := range tests {
		if got := nextSince(prev, tc.newest, tc.elapsed); !got.Equal(tc.want) {
			t.Errorf("%s: nextSince = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestIDLists(t *testing.T) {
	l := idLists{Orgs: []string{"o2", "o1", "o1"}, People: []string{"p3", "dn:cn=x\\2c y,dc=test", "p1"}}
	l.normalise()
	raw, digest, err := l.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeIDs(raw, digest)
	if err != nil {
		t.Fatalf("decodeIDs: %v", err)
	}
	if diff := cmp.Diff(idLists{Orgs: []string{"o1", "o2"}, People: []string{"dn:cn=x\\2c y,dc=test", "p1", "p3"}}, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for name, in := range map[string][2]string{
		"other digest": {raw, "0123"}, "empty": {"", idsDigest("")}, "not base64": {"!!", idsDigest("!!")},
	} {
		if _, err := decodeIDs(in[0], in[1]); err == nil {
			t.Errorf("%s: decodeIDs accepted it", name)
		}
	}
	if got := missing([]string{"a", "b", "c", "e"}, []string{"b", "d", "e"}); !cmp.Equal(got, []string{"a", "c"}) {
		t.Errorf("missing = %q", got)
	}
	if got := union([]string{"a", "c"}, map[string]bool{"b": true, "c": true}); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("union = %q", got)
	}
}

func TestDecodeState(t *testing.T) {
	tests := []struct {
		name, raw string
		wantMode  string // "" when unusable
	}{
		{"version 1 content sync", `{"v":1,"config":"f","orgs":"YQ==","people":"Yg=="}`, modeContentSync},
		{"version 2 content sync", `{"v":2,"config":"f","mode":"contentsync","orgs":"YQ==","people":"Yg=="}`, modeContentSync},
		{"version 2 without a mode", `{"v":2,"config":"f","orgs":"YQ==","people":"Yg=="}`, ""},
		{"USN poll", `{"v":2,"config":"f","mode":"poll","poll":{"attr":"uSNChanged","usn":9,"dsa":"cn=x","invocation":"i","nc":"dc=t"}}`, modePoll},
		{"USN poll without the DC's identity", `{"v":2,"config":"f","mode":"poll","poll":{"attr":"uSNChanged","usn":9}}`, ""},
		{"timestamp poll", `{"v":2,"config":"f","mode":"poll","poll":{"attr":"modifyTimestamp","since":"2026-11-26T12:00:00Z","ids":"ab"}}`, modePoll},
		{"timestamp poll without ids", `{"v":2,"config":"f","mode":"poll","poll":{"attr":"modifyTimestamp"}}`, ""},
		{"unknown counter", `{"v":2,"config":"f","mode":"poll","poll":{"attr":"whenChanged","ids":"ab"}}`, ""},
		{"future version", `{"v":3,"config":"f","mode":"poll","poll":{"attr":"modifyTimestamp","ids":"ab"}}`, ""},
		{"cleared", ``, ""},
	}
	for _, tc := range tests {
		st, err := decodeState(tc.raw)
		if (err == nil) != (tc.wantMode != "") || (err == nil && st.Mode != tc.wantMode) {
			t.Errorf("%s: decodeState = %+v, %v; want mode %q", tc.name, st, err, tc.wantMode)
		}
	}
}

// TestIncrementalModes: which incremental syncs the settings allow, and which
// stored positions they continue from.
func TestIncrementalModes(t *testing.T) {
	content := syncState{Mode: modeContentSync}
	stamps := syncState{Mode: modePoll, Poll: &pollState{Attr: attrTimestamp}}
	usn := syncState{Mode: modePoll, Poll: &pollState{Attr: attrUSN}}
	tests := []struct {
		name string
		cfg  Config
		want []bool // allows content, stamps, usn
	}{
		{"OpenLDAP auto", Config{}, []bool{true, true, false}},
		{"OpenLDAP poll", Config{Incremental: "Poll"}, []bool{false, true, false}},
		{"OpenLDAP off", Config{Incremental: IncrementalOff}, []bool{false, false, false}},
		{"OpenLDAP with another id", Config{IDAttr: "uid"}, []bool{false, true, false}},
		{"AD", Config{Preset: PresetAD}, []bool{false, false, true}},
		{"AD off", Config{Preset: PresetAD, Incremental: IncrementalOff}, []bool{false, false, false}},
		{"AD without objectGUID", Config{Preset: PresetAD, IDAttr: "sAMAccountName"}, []bool{false, false, false}},
	}
	for _, tc := range tests {
		s, err := tc.cfg.resolve()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := []bool{s.allows(content), s.allows(stamps), s.allows(usn)}
		if !cmp.Equal(got, tc.want) {
			t.Errorf("%s: allows = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := (Config{Incremental: "dirsync"}).resolve(); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown mode: %v, want ErrConfig", err)
	}
}

func TestMayHoldEntries(t *testing.T) {
	tests := []struct {
		attrs map[string][]string
		want  bool
	}{
		{map[string][]string{"hasSubordinates": {"TRUE"}, "objectClass": {"inetOrgPerson"}}, true},
		{map[string][]string{"hasSubordinates": {"FALSE"}, "objectClass": {"organizationalUnit"}}, false},
		{map[string][]string{"objectClass": {"top", "organizationalUnit"}}, true}, // AD: no hasSubordinates
		{map[string][]string{"objectClass": {"top", "container"}}, true},
		{map[string][]string{"objectClass": {"top", "person", "user"}}, false},
		{map[string][]string{"objectClass": {"top", "group"}}, false},
	}
	for _, tc := range tests {
		if got := mayHoldEntries(rootDSE(tc.attrs)); got != tc.want {
			t.Errorf("mayHoldEntries(%v) = %v, want %v", tc.attrs, got, tc.want)
		}
	}
}
