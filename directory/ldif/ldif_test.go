package ldif_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory/ldif"
)

// result is one outcome of Next: an entry or a record error.
type result struct {
	Entry *ldif.Entry
	Line  int    // RecordError.Line
	DN    string // RecordError.DN
	Err   error  // the sentinel the error must wrap
}

func entry(line int, dn string, kv ...string) result {
	e := &ldif.Entry{DN: dn, Line: line, Attributes: map[string][]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Attributes[kv[i]] = append(e.Attributes[kv[i]], kv[i+1])
	}
	return result{Entry: e}
}

func recErr(line int, dn string, sentinel error) result {
	return result{Line: line, DN: dn, Err: sentinel}
}

// readAll reads until io.EOF or a fatal error, which it returns.
func readAll(t *testing.T, r *ldif.Reader) ([]result, error) {
	t.Helper()
	var out []result
	for range 1000 {
		e, err := r.Next()
		var re *ldif.RecordError
		switch {
		case err == nil:
			out = append(out, result{Entry: e})
		case errors.As(err, &re):
			out = append(out, result{Line: re.Line, DN: re.DN, Err: re.Err})
		case errors.Is(err, io.EOF):
			return out, nil
		default:
			return out, err
		}
	}
	t.Fatal("reader did not reach the end")
	return nil, nil
}

// sameResults compares results; errors match when the got error wraps the wanted sentinel.
var sameResults = cmp.Comparer(func(a, b error) bool {
	return a == nil && b == nil || a != nil && b != nil && (errors.Is(a, b) || errors.Is(b, a))
})

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 2000)
	tests := []struct {
		name  string
		in    string
		max   int
		want  []result
		fatal error
	}{
		{name: "empty", in: ""},
		{name: "only comments and blanks", in: "# hello\n\n  \n# bye\n"},
		{
			name: "version and two records",
			in:   "version: 1\n\n# a comment\ndn: o=A,dc=test\nobjectClass: organization\no: A\n\ndn: o=B,dc=test\no: B\n",
			want: []result{
				entry(4, "o=A,dc=test", "objectclass", "organization", "o", "A"),
				entry(8, "o=B,dc=test", "o", "B"),
			},
		},
		{
			name: "version line directly followed by a record",
			in:   "version: 1\ndn: o=A\no: A\n",
			want: []result{entry(2, "o=A", "o", "A")},
		},
		{
			name: "folding of dn, value and comment",
			in:   "# folded\n  comment\ndn: cn=Jan de Vries,o=Gem\n eente\ncn: Jan de\n  Vries\n \ndescription: a\n b\n",
			want: []result{entry(3, "cn=Jan de Vries,o=Gemeente", "cn", "Jan de Vries", "description", "ab")},
		},
		{
			name: "base64 dn and values, utf-8 plain value",
			in:   "dn:: bz1DYWbDqSBEZSBab8OrIEIuVi4=\no:: Q2Fmw6kgRGUgWm/DqyBCLlYu\nbin:: AAEC\nempty::\ndescription: Zoë\n",
			want: []result{entry(1, "o=Café De Zoë B.V.", "o", "Café De Zoë B.V.", "bin", "\x00\x01\x02", "empty", "", "description", "Zoë")},
		},
		{
			name: "CRLF line endings and folding",
			in:   "dn: o=A\r\nmail: a@b\r\n .test\r\n\r\ndn: o=B\r\no: B",
			want: []result{entry(1, "o=A", "mail", "a@b.test"), entry(5, "o=B", "o", "B")},
		},
		{
			name: "names lower-cased, options kept, values keep case",
			in:   "DN: o=A\nCN;Lang-NL: Jan\ncn: JAN\nObjectClass: top\n2.5.4.3: oid\n",
			want: []result{entry(1, "o=A", "cn;lang-nl", "Jan", "cn", "JAN", "objectclass", "top", "2.5.4.3", "oid")},
		},
		{
			name: "fill, empty value, trailing space kept",
			in:   "dn:o=A\ncn:   Jan \nsn:\n",
			want: []result{entry(1, "o=A", "cn", "Jan ", "sn", "")},
		},
		{
			name: "byte-order mark, blank runs, whitespace-only lines",
			in:   "\xEF\xBB\xBFdn: o=A\no: A\n\n\n \n\ndn: o=B\no: B\n\n",
			want: []result{entry(1, "o=A", "o", "A"), entry(7, "o=B", "o", "B")},
		},
		{
			name: "comment inside a record",
			in:   "dn: o=A\n# note\no: A\n",
			want: []result{entry(1, "o=A", "o", "A")},
		},
		{
			name: "missing colon, then the reader goes on",
			in:   "dn: o=A\no A\nsn: x\n\ndn: o=B\no: B\n",
			want: []result{recErr(2, "o=A", ldif.ErrSyntax), entry(5, "o=B", "o", "B")},
		},
		{
			name: "record not starting with dn",
			in:   "o: A\n\ndn: o=B\no: B\n",
			want: []result{recErr(1, "", ldif.ErrSyntax), entry(3, "o=B", "o", "B")},
		},
		{
			name: "change records are rejected one by one",
			in:   "version: 1\n\ndn: o=A\nchangetype: add\no: A\n\ndn: o=B\ncontrol: 1.2.3 true\nchangetype: delete\n\ndn: o=C\no: C\n",
			want: []result{
				recErr(4, "o=A", ldif.ErrChangeRecord),
				recErr(8, "o=B", ldif.ErrChangeRecord),
				entry(11, "o=C", "o", "C"),
			},
		},
		{
			name: "URL value",
			in:   "dn: o=A\njpegPhoto:< file:///etc/passwd\n",
			want: []result{recErr(2, "o=A", ldif.ErrURLValue)},
		},
		{
			name: "bad base64 value and dn",
			in:   "dn: o=A\ncn:: !!!\n\ndn:: !!!\no: B\n",
			want: []result{recErr(2, "o=A", ldif.ErrSyntax), recErr(4, "", ldif.ErrSyntax)},
		},
		{
			name: "dn that is not UTF-8",
			in:   "dn:: /w==\no: A\n",
			want: []result{recErr(1, "", ldif.ErrSyntax)},
		},
		{
			name: "invalid attribute descriptions",
			in:   "dn: o=A\nc n: x\n\ndn: o=B\n1cn: x\n\ndn: o=C\ncn;: x\n\ndn: o=D\ncn_x: x\n\ndn: o=E\n1..2: x\n",
			want: []result{
				recErr(2, "o=A", ldif.ErrSyntax),
				recErr(5, "o=B", ldif.ErrSyntax),
				recErr(8, "o=C", ldif.ErrSyntax),
				recErr(11, "o=D", ldif.ErrSyntax),
				recErr(14, "o=E", ldif.ErrSyntax),
			},
		},
		{
			name: "control characters in plain values",
			in:   "dn: o=A\ncn: a\x00b\n\ndn: o=B\ncn: a\rb\n\ndn: o=C\ncn: \xff\n",
			want: []result{recErr(2, "o=A", ldif.ErrSyntax), recErr(5, "o=B", ldif.ErrSyntax), recErr(8, "o=C", ldif.ErrSyntax)},
		},
		{
			name: "second dn without a blank line",
			in:   "dn: o=A\no: A\ndn: o=B\no: B\n",
			want: []result{recErr(3, "o=A", ldif.ErrSyntax)},
		},
		{
			name: "continuation with nothing to continue",
			in:   " cn: x\no: y\n\ndn: o=B\no: B\n",
			want: []result{recErr(1, "", ldif.ErrSyntax), entry(4, "o=B", "o", "B")},
		},
		{
			name: "record with only a dn",
			in:   "dn: o=A\n\ndn: o=B\no: B\n",
			want: []result{recErr(1, "o=A", ldif.ErrSyntax), entry(3, "o=B", "o", "B")},
		},
		{
			name: "record over the limit names its line",
			in:   "dn: o=A\na: " + big[:600] + "\nb: " + big[:600] + "\nc: x\n\ndn: o=B\no: B\n",
			max:  1024,
			want: []result{recErr(3, "o=A", ldif.ErrTooLarge), entry(6, "o=B", "o", "B")},
		},
		{
			name: "one physical line over the limit",
			in:   "dn: o=A\na: " + big + "\n\ndn: o=B\no: B\n",
			max:  1024,
			want: []result{recErr(2, "o=A", ldif.ErrTooLarge), entry(4, "o=B", "o", "B")},
		},
		{
			name: "folded line over the limit",
			in:   "dn: o=A\na: " + big[:1000] + "\n " + big[:1000] + "\n\ndn: o=B\no: B\n",
			max:  1024,
			want: []result{recErr(2, "o=A", ldif.ErrTooLarge), entry(5, "o=B", "o", "B")},
		},
		{
			name: "dn line over the limit",
			in:   "dn: " + big + "\no: A\n\ndn: o=B\no: B\n",
			max:  1024,
			want: []result{recErr(1, "", ldif.ErrTooLarge), entry(4, "o=B", "o", "B")},
		},
		{
			name:  "unsupported version is fatal",
			in:    "version: 2\n\ndn: o=A\no: A\n",
			fatal: ldif.ErrVersion,
		},
		{
			name: "version line later in the file is not a version line",
			in:   "dn: o=A\no: A\n\nversion: 1\n",
			want: []result{entry(1, "o=A", "o", "A"), recErr(4, "", ldif.ErrSyntax)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ldif.NewReader(strings.NewReader(tt.in))
			if tt.max > 0 {
				r.SetMaxRecordSize(tt.max)
			}
			got, err := readAll(t, r)
			if !errors.Is(err, tt.fatal) || (err == nil) != (tt.fatal == nil) {
				t.Fatalf("fatal error = %v, want %v", err, tt.fatal)
			}
			if diff := cmp.Diff(tt.want, got, sameResults); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFatalErrorIsSticky(t *testing.T) {
	tests := []struct {
		name string
		in   io.Reader
		want error
	}{
		{"version", strings.NewReader("version: 3\ndn: o=A\no: A\n"), ldif.ErrVersion},
		{"read error", io.MultiReader(strings.NewReader("dn: o=A\no: A\n\ndn: o=B\n"), iotest.ErrReader(errors.New("disk on fire"))), ldif.ErrRead},
		{"end", strings.NewReader("dn: o=A\no: A\n"), io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ldif.NewReader(tt.in)
			var err error
			for range 5 {
				if _, err = r.Next(); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Next = %v, want %v", err, tt.want)
			}
			if _, again := r.Next(); !errors.Is(again, tt.want) {
				t.Errorf("second Next = %v, want %v again", again, tt.want)
			}
		})
	}
}

func TestRecordErrorMessage(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"dn: o=A\nx\n", `ldif: line 2 (dn "o=A"): syntax error: no ':' after the attribute name`},
		{"o: A\n", `ldif: line 1: syntax error: record begins with "o", not "dn:"`},
	}
	for _, tt := range tests {
		_, err := ldif.NewReader(strings.NewReader(tt.in)).Next()
		if err == nil || err.Error() != tt.want {
			t.Errorf("error = %v, want %s", err, tt.want)
		}
	}
}

// FuzzReader checks that no input makes the reader panic, loop or break its
// invariants.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"version: 1\n\ndn: o=A\no: A\n",
		"dn:: bz1DYWbDqSBEZSBab8OrIEIuVi4=\no:: Q2Fmw6kgRGUgWm/DqyBCLlYu\n",
		"dn: cn=a\n b\ncn;lang-nl: x\r\n\r\n",
		"dn: o=A\nchangetype: modify\nreplace: cn\ncn: x\n-\n",
		" \n# c\n x\ndn:\n:\n::\n:<\n",
		"version: 1\ndn: o=A\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ldif.NewReader(strings.NewReader(string(data)))
		r.SetMaxRecordSize(1024)
		for calls := 0; ; calls++ {
			if calls > len(data)+1 {
				t.Fatalf("more results (%d) than input bytes", calls)
			}
			e, err := r.Next()
			var re *ldif.RecordError
			switch {
			case err == nil:
				checkEntry(t, e)
			case errors.As(err, &re):
				if re.Line < 1 || re.Err == nil {
					t.Fatalf("bad RecordError %#v", re)
				}
			default:
				return
			}
		}
	})
}

func checkEntry(t *testing.T, e *ldif.Entry) {
	t.Helper()
	if e.Line < 1 || !utf8.ValidString(e.DN) || len(e.Attributes) == 0 {
		t.Fatalf("bad entry %+v", e)
	}
	for name := range e.Attributes {
		if name != strings.ToLower(name) || name == "" {
			t.Fatalf("attribute name %q not lower-case", name)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "dn: cn=Jan de Vries %d,o=Gemeente Amsterdam,ou=organisations,dc=veilig,dc=te\n st\n", i)
		sb.WriteString("objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\n")
		fmt.Fprintf(&sb, "cn: Jan de Vries %d\nsn: de Vries\ngivenName: Jan\nmail: jan.devries%d@amsterdam.nl\nou:: RmluYW5jacOrbg==\n\n", i, i)
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := ldif.NewReader(strings.NewReader(data))
		for {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
