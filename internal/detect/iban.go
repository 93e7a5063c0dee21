package detect

import (
	"regexp"
	"strings"
)

// ibanLengths are IBAN lengths per country (ISO 13616 registry); others use 15–34.
var ibanLengths = map[string]int{
	"AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24,
	"FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21,
	"LT": 20, "LU": 20, "LV": 21, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
	"SI": 19, "SK": 24,
}

var (
	ibanShape = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]+$`)
	ibanHead  = regexp.MustCompile(`[A-Za-z]{2}[0-9]{2}`)
)

// compactIBAN drops spaces and no-break spaces and upper-cases.
func compactIBAN(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "\u00a0", "").Replace(s))
}

// IsValidIBAN reports whether s (spaces allowed, any case) is an IBAN: country
// letters, check digits 02–98, the country's length (15–34 for countries not in
// the table) and MOD 97-10 remainder 1.
func IsValidIBAN(s string) bool {
	iban := compactIBAN(s)
	if !ibanShape.MatchString(iban) {
		return false
	}
	if check := iban[2:4]; check == "00" || check == "01" || check == "99" {
		return false
	}
	if want, ok := ibanLengths[iban[:2]]; ok && len(iban) != want || !ok && (len(iban) < 15 || len(iban) > 34) {
		return false
	}
	return mod97(iban[4:]+iban[:4]) == 1
}

// mod97 is the remainder of the number with letters as 10..35; s is [0-9A-Z]+.
func mod97(s string) int {
	r := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	return r
}

func findIBANs(text string) []found {
	var out []found
	for i := 0; i < len(text); {
		loc := ibanHead.FindStringIndex(text[i:])
		if loc == nil {
			break
		}
		start := i + loc[0]
		i = start + 1
		if wordBefore(text, start) {
			continue
		}
		if f, ok := ibanAt(text, start); ok {
			out = append(out, f)
			i = start + len(f.Match.Match)
		}
	}
	return out
}

// ibanAt tries the longest run of alphanumeric chunks separated by single
// spaces (every chunk but the last a multiple of four long) and gives back the
// longest prefix of whole chunks that is a valid IBAN, so words after the IBAN
// are not taken along.
func ibanAt(text string, start int) (found, bool) {
	ends := chunkEnds(text, start)
	for k := len(ends) - 1; k >= 0; k-- {
		if wordAfter(text, ends[k]) {
			continue
		}
		if m := text[start:ends[k]]; IsValidIBAN(m) {
			return found{Match: Match{Kind: KindIBAN, Match: m, Index: start}, key: compactIBAN(m)}, true
		}
	}
	return found{}, false
}

// chunkEnds returns where each possible IBAN ending at a chunk boundary ends.
func chunkEnds(text string, i int) []int {
	var ends []int
	compact := 0
	for {
		j := i
		for j < len(text) && isASCIIAlnum(text[j]) {
			j++
		}
		compact += j - i
		if compact > 34 {
			return ends
		}
		ends = append(ends, j)
		sp, size := isSpace(text[j:])
		if (j-i)%4 != 0 || !sp || j+size >= len(text) || !isASCIIAlnum(text[j+size]) {
			return ends
		}
		i = j + size
	}
}
