package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Bounds on what is indexed per record, so that garbage input cannot blow up the
// index. Real names and addresses stay far below them.
const (
	maxTokenBytes   = 80 // tokens and query words are cut to this many bytes
	maxWordsPerName = 24 // words indexed per name
	maxPartsPerWord = 8  // suffix tokens per hyphenated or dotted word
	maxDomains      = 16 // domains indexed per record
)

// isJoiner reports whether c joins the parts of one word: "jan-willem",
// "'s-hertogenbosch", "j.de.vries", "info+post", "jan@utrecht.nl". A word is
// indexed whole and from each part on.
func isJoiner(c byte) bool {
	switch c {
	case '-', '\'', '.', '_', '+', '@':
		return true
	}
	return false
}

// isWordRune reports whether r belongs inside a word (letters, digits, spacing
// marks); everything else separates words.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || isJoiner(c)
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mc, r)
}

// words splits folded text into words, trims joiners from both ends of each word
// and cuts it to maxTokenBytes. It appends to dst and stops after max words.
func words(dst []string, folded string, max int) []string {
	for i := 0; i < len(folded) && len(dst) < max; {
		start := i
		for i < len(folded) {
			r, n := utf8.DecodeRuneInString(folded[i:])
			if !isWordRune(r) {
				break
			}
			i += n
		}
		if w := cleanWord(folded[start:i]); w != "" {
			dst = append(dst, w)
		}
		if i == start {
			_, n := utf8.DecodeRuneInString(folded[i:])
			i += n
		}
	}
	return dst
}

// cleanWord cuts w to maxTokenBytes and trims joiners from both ends.
func cleanWord(w string) string {
	return trimJoiners(cut(trimJoiners(w)))
}

// trimJoiners removes joiners from both ends of w.
func trimJoiners(w string) string {
	for w != "" && isJoiner(w[0]) {
		w = w[1:]
	}
	for w != "" && isJoiner(w[len(w)-1]) {
		w = w[:len(w)-1]
	}
	return w
}

// cut shortens s to at most maxTokenBytes without splitting a rune.
func cut(s string) string {
	if len(s) <= maxTokenBytes {
		return s
	}
	n := maxTokenBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendSuffixes appends w and each suffix of w that starts a part, a part being
// what follows a run of joiners: "'s-hertogenbosch" gives itself,
// "s-hertogenbosch" and "hertogenbosch". Only parts starting before end count,
// so that a domain's public suffix never becomes a token of its own.
func appendSuffixes(dst []string, w string, end int) []string {
	dst = append(dst, w)
	parts := 1
	for i := 1; i < end && parts < maxPartsPerWord; i++ {
		if isJoiner(w[i-1]) && !isJoiner(w[i]) {
			dst = append(dst, w[i:])
			parts++
		}
	}
	return dst
}

// nameTokens appends the tokens of the folded words of a name.
func nameTokens(dst []string, ws []string) []string {
	for _, w := range ws {
		dst = appendSuffixes(dst, w, len(w))
	}
	return dst
}

// emailTokens appends the tokens of a folded, cleaned e-mail address: its local
// part whole and from each part on, split at . _ - + ("j.de.vries",
// "de.vries", "vries"). The domain of an address is no token: "utrecht" should
// find the organisation, not all its people. A query word with an "@" is matched
// against the whole address instead (see qword).
func emailTokens(dst []string, email string) []string {
	local := email
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		local = trimJoiners(email[:at])
	}
	if local == "" {
		return dst
	}
	return appendSuffixes(dst, local, len(local))
}

// domainForm is one domain in the forms that are indexed.
type domainForm struct {
	folded      string // folded Unicode form: "gemeente-ijsselstein.nl"
	ascii       string // lower-case A-label form: "xn--gemeente-sselstein-....nl"
	registrable string // folded form without its public suffix: "gemeente-ijsselstein"
}

// newDomainForm derives the indexed forms of a domain name (RFC 5890 A-label or
// U-label). The public suffix comes from the Public Suffix List.
func newDomainForm(domain string) domainForm {
	ascii := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	uni, err := idna.ToUnicode(ascii)
	if err != nil {
		uni = ascii
	}
	d := domainForm{folded: Fold(uni), ascii: ascii}
	suffix, _ := publicsuffix.PublicSuffix(ascii)
	d.registrable = dropLabels(d.folded, strings.Count(suffix, ".")+1)
	return d
}

// dropLabels removes the last n labels from a dotted name; "" when nothing is left.
func dropLabels(name string, n int) string {
	for ; n > 0; n-- {
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			return ""
		}
		name = name[:i]
	}
	return name
}

// tokens appends the tokens of the domain: the folded form whole and from each
// label or hyphen part of its registrable part on ("mail.gemeente-utrecht.nl",
// "gemeente-utrecht.nl", "utrecht.nl", never "nl"), and the A-label form when it
// differs. The registrable part alone is a prefix of the whole and needs no token.
func (d domainForm) tokens(dst []string) []string {
	f := cut(d.folded)
	if f == "" {
		return dst
	}
	dst = appendSuffixes(dst, f, min(len(d.registrable), len(f)))
	if a := cut(d.ascii); a != f && a != "" {
		dst = append(dst, a)
	}
	return dst
}

// exactKeys appends the keys whose equality with a query is an exact match:
// each form, cut like a query word.
func (d domainForm) exactKeys(dst []string) []string {
	f := cut(d.folded)
	dst = append(dst, f)
	if a := cut(d.ascii); a != f && a != "" {
		dst = append(dst, a)
	}
	if d.registrable != "" {
		dst = append(dst, cut(d.registrable))
	}
	return dst
}

// terms is the text that indexing derives from one record. Its slices are
// reused by the next call to analyse.
type terms struct {
	canon  string   // folded name words joined by single spaces
	first  string   // first word of the name, "" if the name has none
	email  string   // folded e-mail address, also an exact-match key
	tokens []string // every token, in field order, duplicates allowed
	exact  []string // other exact-match keys: canon, domain forms
	words  []string // scratch
}

// analyse tokenises a record. Every record field is indexed when present, so an
// organisation with an e-mail address is found by it too.
func (t *terms) analyse(r *Record) {
	folded := Fold(r.Name)
	t.words = words(t.words[:0], folded, maxWordsPerName)
	t.canon, t.first = joinWords(folded, t.words), ""
	t.tokens, t.exact = nameTokens(t.tokens[:0], t.words), t.exact[:0]
	if len(t.words) > 0 {
		t.first = t.words[0]
		t.exact = append(t.exact, t.canon)
	}
	t.email = cleanWord(Fold(r.Email))
	if t.email != "" {
		t.tokens = emailTokens(t.tokens, t.email)
	}
	for i, dom := range r.Domains {
		if i == maxDomains {
			break
		}
		if d := newDomainForm(dom); d.folded != "" {
			t.tokens = d.tokens(t.tokens)
			t.exact = d.exactKeys(t.exact)
		}
	}
}

// joinWords returns ws joined by single spaces, reusing folded, which ws were
// taken from, when it already is that.
func joinWords(folded string, ws []string) string {
	n := len(ws) - 1
	for _, w := range ws {
		n += len(w)
	}
	if n == len(folded) && n >= 0 && strings.Count(folded, " ") == len(ws)-1 {
		return folded
	}
	return strings.Join(ws, " ")
}
