package mimeread

import (
	"mime"
	"sort"
	"strconv"
	"strings"
)

// maxParams bounds the parameters read from one field.
const maxParams = 100

// parseParams parses "type/subtype; a=b; …" (RFC 2045 §5.1, RFC 2183) with
// mime.ParseMediaType, which joins RFC 2231 continuations. When that fails,
// or drops an RFC 2231 name in a charset other than UTF-8, a lenient parser
// takes over: unquoted values with tspecials ("boundary=----=_Part_1"),
// duplicates (first wins), any charset x/text knows.
func parseParams(raw string) (string, map[string]string) {
	mediaType, params, err := mime.ParseMediaType(raw)
	if err != nil || droppedName(raw, params) {
		mediaType, params = lenientParams(raw)
	}
	for _, k := range []string{"name", "filename"} {
		if v := params[k]; strings.Contains(v, "=?") {
			params[k] = decodeText(v) // RFC 2047 words where RFC 2231 belongs (Outlook, Thunderbird)
		}
	}
	return strings.ToLower(mediaType), params
}

// droppedName reports an RFC 2231 name that mime.ParseMediaType ignores
// (wholly or in part): one in a charset other than UTF-8 or US-ASCII.
func droppedName(raw string, params map[string]string) bool {
	lower := strings.ToLower(raw)
	if !strings.Contains(lower, "name*") {
		return false
	}
	if params["name"] == "" && params["filename"] == "" {
		return true
	}
	for rest := lower; ; {
		_, after, ok := strings.Cut(rest, "*=")
		if !ok {
			return false
		}
		charset, _, quoted := strings.Cut(after, "'")
		charset = strings.Trim(strings.TrimSpace(charset), `"`)
		if quoted && charset != "utf-8" && charset != "us-ascii" && !strings.ContainsAny(charset, ";=") {
			return true
		}
		rest = after
	}
}

// piece is a section of an RFC 2231 §3 continued value.
type piece struct {
	value   string
	encoded bool
}

// lenientParams is the fallback parser.
func lenientParams(raw string) (string, map[string]string) {
	mediaType, rest, _ := strings.Cut(raw, ";")
	params := map[string]string{}
	extended := map[string]string{}
	sections := map[string]map[int]piece{}
	for n := 0; rest != "" && n < maxParams; n++ {
		var attr, value string
		attr, value, rest = nextParam(rest)
		if attr == "" {
			continue
		}
		addParam(attr, value, params, extended, sections)
	}
	for name, secs := range sections {
		if v, ok := joinSections(secs); ok {
			extended[name] = v
		}
	}
	for name, v := range extended { // the RFC 2231 form wins over the fallback
		params[name] = v
	}
	return strings.TrimSpace(mediaType), params
}

// nextParam reads "attr=value" or "attr="quoted"" up to the next ";".
func nextParam(s string) (string, string, string) {
	s = strings.TrimLeft(s, " \t;")
	attr, rest, ok := strings.Cut(s, "=")
	if !ok || strings.Contains(attr, ";") {
		_, rest, _ = strings.Cut(s, ";")
		return "", "", rest
	}
	attr = strings.ToLower(strings.TrimSpace(attr))
	rest = strings.TrimLeft(rest, " \t")
	if strings.HasPrefix(rest, `"`) {
		value, rest := quoted(rest[1:])
		_, rest, _ = strings.Cut(rest, ";")
		return attr, value, rest
	}
	value, rest, _ := strings.Cut(rest, ";")
	return attr, strings.TrimSpace(value), rest
}

// quoted reads a quoted-string after its opening quote, to the closing quote
// or the end.
func quoted(s string) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			if i+1 < len(s) {
				i++
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), ""
}

// addParam files attr as a plain, extended (attr*) or section (attr*n,
// attr*n*) parameter; the first of each wins.
func addParam(attr, value string, params, extended map[string]string, sections map[string]map[int]piece) {
	name, rest, star := strings.Cut(attr, "*")
	switch {
	case !star:
		setOnce(params, name, value)
	case rest == "":
		if v, ok := decodeExtended(value); ok {
			setOnce(extended, name, v)
		}
	default:
		num, encoded := strings.CutSuffix(rest, "*")
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i >= maxParams {
			return
		}
		if sections[name] == nil {
			sections[name] = map[int]piece{}
		}
		if _, dup := sections[name][i]; !dup {
			sections[name][i] = piece{value: value, encoded: encoded}
		}
	}
}

func setOnce(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// joinSections joins sections 0, 1, … up to the first missing one; the first
// section, when encoded, names the charset (RFC 2231 §4.1).
func joinSections(secs map[int]piece) (string, bool) {
	keys := make([]int, 0, len(secs))
	for k := range secs {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var raw []byte
	charset := ""
	for i, k := range keys {
		if k != i {
			break
		}
		p := secs[k]
		if !p.encoded {
			raw = append(raw, p.value...)
			continue
		}
		v := p.value
		if i == 0 {
			charset, v = splitCharset(v)
		}
		raw = append(raw, percentDecode(v)...)
	}
	if len(keys) == 0 || keys[0] != 0 {
		return "", false
	}
	return decodeCharset(raw, charset), true
}

// decodeExtended decodes charset'language'percent-encoded (RFC 2231 §4).
func decodeExtended(v string) (string, bool) {
	charset, rest := splitCharset(v)
	if charset == "" && rest == v {
		return "", false
	}
	return decodeCharset(percentDecode(rest), charset), true
}

// splitCharset splits "charset'lang'rest"; without two quotes, rest is v.
func splitCharset(v string) (string, string) {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return "", v
	}
	return parts[0], parts[2]
}

// percentDecode decodes %XX and keeps a "%" not followed by two hex digits.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
