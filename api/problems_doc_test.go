package api_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestProblemTypesDocumented: every problem type the API can send is listed in
// docs/problems.md (with its status) and in openapi.yaml's Problem schema, so
// clients switching on `type` see them all.
func TestProblemTypesDocumented(t *testing.T) {
	src := read(t, "problem.go")
	kinds := regexp.MustCompile(`problemKind\{"([a-z-]+)", "[^"]*", http\.Status(\w+)\}`).FindAllStringSubmatch(src, -1)
	if len(kinds) < 10 {
		t.Fatalf("found %d problem kinds in problem.go; the pattern is stale", len(kinds))
	}
	doc, spec := read(t, "../docs/problems.md"), read(t, "openapi.yaml")
	statusCodes := map[string]int{"BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404,
		"MethodNotAllowed": 405, "Conflict": 409, "RequestEntityTooLarge": 413, "UnsupportedMediaType": 415,
		"UnprocessableEntity": 422, "TooManyRequests": 429, "InternalServerError": 500, "ServiceUnavailable": 503}
	for _, k := range kinds {
		typ := "urn:veilig:problem:" + k[1]
		if status := strconv.Itoa(statusCodes[k[2]]); !strings.Contains(doc, "| `"+typ+"` | "+status+" |") {
			t.Errorf("docs/problems.md lacks %s with status %s", typ, status)
		}
		if !strings.Contains(spec, "- "+typ+"\n") {
			t.Errorf("openapi.yaml's Problem type enum lacks %s", typ)
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
