package detect

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

var bsnWeights = [9]int{9, 8, 7, 6, 5, 4, 3, 2, -1}

// bsnForms: a BSN is written 123456782, 123.456.782, 123 456 782 or 1234.56.782.
var bsnForms = regexp.MustCompile(`^(?:[0-9]{9}|[0-9]{3}\.[0-9]{3}\.[0-9]{3}|[0-9]{3}[ \x{a0}][0-9]{3}[ \x{a0}][0-9]{3}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})$`)

// IsValidBSN reports whether s is exactly nine digits passing the 11-test
// (weights 9..2 and −1 for the last digit); 000000000 is not a BSN.
func IsValidBSN(s string) bool {
	if len(s) != 9 || s == "000000000" {
		return false
	}
	sum := 0
	for i := range 9 {
		if !isDigit(s[i]) {
			return false
		}
		sum += bsnWeights[i] * int(s[i]-'0')
	}
	return sum%11 == 0
}

// isJoiner reports the separators that join digit groups into one number
// token (phone numbers, dates, grouped numbers).
func isJoiner(r rune) bool { return strings.ContainsRune(" .-/()\u00a0", r) }

type span struct{ start, end int }

// numberTokens returns maximal runs of digit groups joined by at most two
// separator characters.
func numberTokens(text string) []span {
	var out []span
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		start, end := i, skipDigits(text, i)
		for {
			j := skipJoiners(text, end)
			if j == end || j >= len(text) || !isDigit(text[j]) {
				break
			}
			end = skipDigits(text, j)
		}
		out = append(out, span{start, end})
		i = end
	}
	return out
}

func skipDigits(text string, i int) int {
	for i < len(text) && isDigit(text[i]) {
		i++
	}
	return i
}

// skipJoiners skips at most two joiner characters from i.
func skipJoiners(text string, i int) int {
	for n := 0; n < 2 && i < len(text); n++ {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isJoiner(r) {
			break
		}
		i += size
	}
	return i
}

func findBSNs(text string) []found {
	var out []found
	for _, t := range numberTokens(text) {
		if strings.HasSuffix(text[:t.start], "+") || wordBefore(text, t.start) || wordAfter(text, t.end) {
			continue
		}
		for _, c := range bsnCandidates(text[t.start:t.end], t.start) {
			digits := onlyDigits(c.Match)
			if IsValidBSN(digits) {
				out = append(out, found{Match: c, key: digits})
			}
		}
	}
	return out
}

// bsnCandidates: the whole token in a BSN form, or, for a list such as
// "123456782 111222333", each nine-digit part.
func bsnCandidates(token string, offset int) []Match {
	if bsnForms.MatchString(token) {
		return []Match{{Kind: KindBSN, Match: token, Index: offset}}
	}
	parts := strings.Split(token, " ")
	if len(parts) < 2 {
		return nil
	}
	out := make([]Match, 0, len(parts))
	for k, p := range parts {
		if len(p) != 9 || onlyDigits(p) != p {
			return nil
		}
		out = append(out, Match{Kind: KindBSN, Match: p, Index: offset + k*10})
	}
	return out
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
