package redact

import "testing"

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://veilig:s3cret@db.example:5432/veilig", "postgres://veilig:xxxxx@db.example:5432/veilig"},
		{"postgres://veilig@db.example/veilig", "postgres://veilig@db.example/veilig"},
		{"data/veilig.db", "data/veilig.db"},
		{"postgres://veilig:bad%zzsecret@db/veilig", "<unparseable URL hidden>"},
		{"postgres://veilig:s3cret@db:port/veilig", "<unparseable URL hidden>"},
		{"postgres://db/veilig?user=v&password=s3cret", "postgres://db/veilig?password=xxxxx&user=v"},
		{"host=db password=s3cret", "<unparseable URL hidden>"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
