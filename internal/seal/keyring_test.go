package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newRing(t *testing.T) (*KeyRing, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	ring, err := GenerateKeyRing(path)
	if err != nil {
		t.Fatalf("GenerateKeyRing: %v", err)
	}
	return ring, path
}

func TestGenerateKeyRing(t *testing.T) {
	ring, path := newRing(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	if _, err := GenerateKeyRing(path); err == nil {
		t.Error("GenerateKeyRing overwrote an existing file")
	}
	loaded, err := LoadKeyRing(path)
	if err != nil {
		t.Fatalf("LoadKeyRing: %v", err)
	}
	if p := loaded.Primary(); p.ID != "k1" || p.Version != 1 || !bytes.Equal(p.key, ring.Primary().key) {
		t.Errorf("loaded primary %v differs from generated", p)
	}
}

func TestLoadKeyRingRefusesOpenPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o666, 0o610} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			_, path := newRing(t)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadKeyRing(path); !errors.Is(err, ErrInsecureKeyFile) {
				t.Fatalf("LoadKeyRing: %v, want ErrInsecureKeyFile", err)
			}
		})
	}
}

func TestLoadKeyRingInvalid(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	short := base64.StdEncoding.EncodeToString([]byte("short-secret-key"))
	entry := func(id string, v int, key string) string {
		return fmt.Sprintf(`{"id":%q,"version":%d,"key":%q,"created":"2026-01-02T03:04:05Z"}`, id, v, key)
	}
	tests := []struct {
		name, body string
	}{
		{"not json", `{"keys":[` + secret},
		{"wrong type", `{"keys":"` + secret + `"}`},
		{"no keys", `{"keys":[],"primary":"k1"}`},
		{"unknown primary", `{"keys":[` + entry("k1", 1, secret) + `],"primary":"k9"}`},
		{"short key", `{"keys":[` + entry("k1", 1, short) + `],"primary":"k1"}`},
		{"bad base64", `{"keys":[` + entry("k1", 1, "!!"+secret) + `],"primary":"k1"}`},
		{"no id", `{"keys":[` + entry("", 1, secret) + `],"primary":""}`},
		{"version 0", `{"keys":[` + entry("k1", 0, secret) + `],"primary":"k1"}`},
		{"duplicate", `{"keys":[` + entry("k1", 1, secret) + `,` + entry("k1", 1, secret) + `],"primary":"k1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyRing(path)
			if !errors.Is(err, ErrKeyRing) {
				t.Fatalf("LoadKeyRing: %v, want ErrKeyRing", err)
			}
			for _, s := range []string{secret, short, secret[:8], short[:8]} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q reveals key material", err)
				}
			}
		})
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	ring, _ := newRing(t)
	dk := mustDataKey(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("keys", "ring", ring, "primary", ring.Primary(), "dk", dk)
	text := logs.String() + fmt.Sprintf("%v %+v %#v %v %+v %#v", ring, ring.Primary(), ring.Primary(), dk, dk, dk)
	secrets := map[string][]byte{"master": ring.Primary().key, "data": dk.b[:]}
	for name, key := range secrets {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(key), fmt.Sprintf("%x", key),
			fmt.Sprint(key), string(key)} {
			if strings.Contains(text, enc) {
				t.Fatalf("%s key printed: %s", name, text)
			}
		}
	}
}

func TestWrapUnwrap(t *testing.T) {
	ring, _ := newRing(t)
	other, _ := newRing(t)
	dk := mustDataKey(t)
	w, err := Wrap(ring, dk, []byte("message-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unwrap(ring, w, []byte("message-1")); err != nil || got != dk {
		t.Fatalf("Unwrap: %v, key equal %v", err, got == dk)
	}
	tests := []struct {
		name string
		ring *KeyRing
		w    Wrapped
		aad  string
		want error
	}{
		{"wrong aad", ring, w, "message-2", ErrAuth},
		{"wrong ring same id", other, w, "message-1", ErrAuth},
		{"unknown key id", ring, Wrapped{"k7", 1, w.Ciphertext}, "message-1", ErrKeyNotFound},
		{"unknown version", ring, Wrapped{"k1", 2, w.Ciphertext}, "message-1", ErrKeyNotFound},
		{"short", ring, Wrapped{"k1", 1, w.Ciphertext[:10]}, "message-1", ErrFormat},
		{"empty", ring, Wrapped{"k1", 1, nil}, "message-1", ErrFormat},
		{"long", ring, Wrapped{"k1", 1, append(bytes.Clone(w.Ciphertext), 0)}, "message-1", ErrFormat},
	}
	for i := range w.Ciphertext {
		bad := bytes.Clone(w.Ciphertext)
		bad[i] ^= 0x04
		tests = append(tests, struct {
			name string
			ring *KeyRing
			w    Wrapped
			aad  string
			want error
		}{fmt.Sprintf("flip byte %d", i), ring, Wrapped{"k1", 1, bad}, "message-1", ErrAuth})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Unwrap(tc.ring, tc.w, []byte(tc.aad)); !errors.Is(err, tc.want) {
				t.Fatalf("Unwrap: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRotationKeepsEverythingReadable(t *testing.T) {
	ring, path := newRing(t)
	type object struct {
		id string
		w  Wrapped
		ct []byte
		pt []byte
	}
	var objects []object
	for i := range 20 {
		if i%5 == 4 {
			var err error
			if ring, err = AddKey(path); err != nil {
				t.Fatalf("AddKey: %v", err)
			}
		}
		dk := mustDataKey(t)
		id := fmt.Sprintf("msg-%d", i)
		w, err := Wrap(ring, dk, []byte(id))
		if err != nil {
			t.Fatal(err)
		}
		pt := randomBytes(i * 1000)
		objects = append(objects, object{id, w, sealBytes(t, dk, []byte(id), pt), pt})
	}
	ring, err := AddKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := ring.Primary(); p.ID != "k6" || p.Version != 6 || len(ring.Keys()) != 6 {
		t.Fatalf("after 5 rotations: primary %v, %d keys", p, len(ring.Keys()))
	}
	ring, err = LoadKeyRing(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objects {
		w, err := Rewrap(ring, o.w, []byte(o.id))
		if err != nil {
			t.Fatalf("Rewrap %s: %v", o.id, err)
		}
		if w.KeyID != "k6" || w.KeyVersion != 6 {
			t.Fatalf("Rewrap %s: wrapped under %s v%d", o.id, w.KeyID, w.KeyVersion)
		}
		objects[i].w = w
	}
	for _, o := range objects {
		dk, err := Unwrap(ring, o.w, []byte(o.id))
		if err != nil {
			t.Fatalf("Unwrap %s: %v", o.id, err)
		}
		got, err := openBytes(dk, []byte(o.id), o.ct)
		if err != nil || !bytes.Equal(got, o.pt) {
			t.Fatalf("open %s after rotation: %v", o.id, err)
		}
		if again, err := Rewrap(ring, o.w, []byte(o.id)); err != nil || !bytes.Equal(again.Ciphertext, o.w.Ciphertext) {
			t.Fatalf("Rewrap under the primary changed the wrapped key: %v", err)
		}
	}
}
