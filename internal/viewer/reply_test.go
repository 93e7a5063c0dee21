package viewer

import (
	"bytes"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// validTokenMarker in a formPart's value stands for the session's real form token.
const validTokenMarker = "{valid-token}"

// formPart is one part of a reply body, in order; file marks a file part
// (filename may then be empty, as browsers send an empty file input).
type formPart struct {
	name, filename, value string
	file                  bool
}

func token(v string) formPart { return formPart{name: csrfField, value: v} }
func text(v string) formPart  { return formPart{name: "text", value: v} }
func file(name, body string) formPart {
	return formPart{name: "files", filename: name, value: body, file: true}
}

// buildReply writes parts as multipart/form-data.
func buildReply(t *testing.T, csrf string, parts []formPart) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.file {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
			h.Set("Content-Type", "text/plain")
		}
		h.Set("Content-Disposition", disp)
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write([]byte(strings.ReplaceAll(p.value, validTokenMarker, csrf)))
	}
	_ = w.Close()
	return &buf, w.FormDataContentType()
}

func manyFiles(n int) []formPart {
	parts := []formPart{token(validTokenMarker), text("Dank u")}
	for i := range n {
		parts = append(parts, file(fmt.Sprintf("f%02d.txt", i), "inhoud"))
	}
	return parts
}

// privateTemp points os.TempDir at a new directory and returns it.
func privateTemp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

// filesUnder lists the regular files under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplyStreamed(t *testing.T) {
	tests := []struct {
		name      string
		parts     []formPart
		maxReply  int64
		status    int
		want      string
		wantReply *recordedReply
	}{
		{"token after files", []formPart{file("a.txt", "eerste"), text("Dank u"), token(validTokenMarker)}, 0, 303, "",
			&recordedReply{Text: "Dank u", Files: []recordedFile{{"a.txt", "text/plain", "eerste"}}}},
		{"forged token after files", []formPart{file("a.txt", "eerste"), text("Dank u"), token("x")}, 0, 403, "Verzoek geweigerd", nil},
		{"forged token first", []formPart{token("x"), text("Dank u"), file("a.txt", "eerste")}, 0, 403, "Verzoek geweigerd", nil},
		{"no token", []formPart{text("Dank u"), file("a.txt", "eerste")}, 0, 403, "Verzoek geweigerd", nil},
		{"oversized token", []formPart{token(strings.Repeat("x", 2000)), text("Dank u")}, 0, 403, "Verzoek geweigerd", nil},
		{"empty file input ignored", []formPart{token(validTokenMarker), text("Dank u"), file("", "")}, 0, 303, "",
			&recordedReply{Text: "Dank u"}},
		{"first text and token count", []formPart{token(validTokenMarker), token("x"), text("Een"), text("Twee")}, 0, 303, "",
			&recordedReply{Text: "Een"}},
		{"other parts ignored", []formPart{token(validTokenMarker), text("Dank u"), {name: "extra", filename: "x.bin", value: "x", file: true}},
			0, 303, "", &recordedReply{Text: "Dank u"}},
		{"20 files", manyFiles(maxReplyFiles), 0, 303, "", nil},
		{"21 files", manyFiles(maxReplyFiles + 1), 0, 422, "niet verstuurd", nil},
		{"text too large", []formPart{token(validTokenMarker), text(strings.Repeat("a", maxReplyText+1))}, 4 << 20, 413, "Antwoord te groot", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := privateTemp(t)
			b := newBrowser(t, func(c *Config) {
				if tt.maxReply > 0 {
					c.MaxReplyBytes = tt.maxReply
				}
			})
			b.verified()
			body, ct := buildReply(t, b.csrf(), tt.parts)
			rec := b.do(http.MethodPost, "/v/reply", body, ct)
			if rec.Code != tt.status || !contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, want %d; body has %q: %v", rec.Code, tt.status, tt.want, contains(rec.Body.String(), tt.want))
			}
			checkRecorded(t, b.fake, tt.status, tt.wantReply)
			if left := filesUnder(t, tmp); len(left) != 0 {
				t.Errorf("files left in the temp dir: %v", left)
			}
		})
	}
}

// checkRecorded: a 303 records exactly one reply (compared when want is set),
// anything else none.
func checkRecorded(t *testing.T, f *fakeBackend, status int, want *recordedReply) {
	t.Helper()
	if status != http.StatusSeeOther {
		if len(f.replies) != 0 {
			t.Errorf("a refused reply was sent: %+v", f.replies)
		}
		return
	}
	if len(f.replies) != 1 {
		t.Fatalf("replies %d, want 1", len(f.replies))
	}
	if want == nil {
		return
	}
	if diff := cmp.Diff(*want, f.replies[0]); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
}

// TestReplyNoPlaintextOnDisk (issue 4): while the backend reads a reply, its
// files exist on disk only sealed; afterwards nothing is left.
func TestReplyNoPlaintextOnDisk(t *testing.T) {
	const canary = "CANARY-viewer-reply-0b5e11"
	tmp := privateTemp(t)
	b := newBrowser(t, func(c *Config) { c.MaxReplyBytes = 8 << 20 })
	b.verified()
	content := strings.Repeat("vertrouwelijk "+canary+"\n", 100_000) // ~4 MB: ParseMultipartForm spilled this to disk
	var seen, plain []string
	b.fake.onReply = func() {
		for _, p := range filesUnder(t, tmp) {
			seen = append(seen, p)
			if disk, err := os.ReadFile(p); err != nil || bytes.Contains(disk, []byte(canary)) {
				plain = append(plain, p)
			}
		}
	}
	body, ct := buildReply(t, b.csrf(), []formPart{token(validTokenMarker), text("Zie bijlage"), file("brief.txt", content)})
	if rec := b.do(http.MethodPost, "/v/reply", body, ct); rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d", rec.Code)
	}
	if len(seen) != 1 || len(plain) != 0 {
		t.Errorf("during SendReply the temp dir held %v, in plaintext %v; want one sealed file", seen, plain)
	}
	if got := b.fake.replies[0].Files; len(got) != 1 || got[0].Body != content {
		t.Error("the backend did not read the file as sent")
	}
	if left := filesUnder(t, tmp); len(left) != 0 {
		t.Errorf("files left in the temp dir: %v", left)
	}
}

func TestReplyNotMultipart(t *testing.T) {
	privateTemp(t)
	b := newBrowser(t, nil)
	b.verified()
	body := strings.NewReader(csrfField + "=" + b.csrf() + "&text=hallo")
	if rec := b.do(http.MethodPost, "/v/reply", body, "application/x-www-form-urlencoded"); rec.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", rec.Code)
	}
	if len(b.fake.replies) != 0 {
		t.Error("reply sent")
	}
}
