package compose

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Line lengths of RFC 5322 §2.1.1: lines SHOULD stay within 78 characters and
// MUST stay within 998. Values are folded at spaces to keep the first; a word too
// long for the second is encoded (RFC 2047) so that it can be split.
const (
	softLineLimit = 78
	maxWordLength = 900
)

// header returns the message's own header fields; the body's MIME fields follow.
func (m Message) header() (string, error) {
	if m.Date.IsZero() {
		return "", fmt.Errorf("%w: no Date", ErrInvalid)
	}
	if err := checkMessageID(m.MessageID); err != nil {
		return "", err
	}
	from, err := addressTokens("From", m.From)
	if err != nil {
		return "", err
	}
	var h strings.Builder
	h.WriteString(fold("Date", []string{m.Date.Format(time.RFC1123Z)}))
	h.WriteString(fold("From", from))
	if err := writeRecipients(&h, m.To, m.Cc); err != nil {
		return "", err
	}
	if err := writeSubject(&h, m.Subject); err != nil {
		return "", err
	}
	h.WriteString(fold("Message-ID", []string{m.MessageID}))
	h.WriteString(fold("MIME-Version", []string{"1.0"}))
	if err := writeExtra(&h, m.ExtraHeaders); err != nil {
		return "", err
	}
	return h.String(), nil
}

// writeRecipients writes To and Cc; with neither, the empty group of RFC 5322
// §A.1.3 says the recipients are undisclosed.
func writeRecipients(h *strings.Builder, to, cc []Address) error {
	if len(to) == 0 && len(cc) == 0 {
		h.WriteString(fold("To", []string{"undisclosed-recipients:;"}))
		return nil
	}
	for _, f := range []struct {
		name string
		list []Address
	}{{"To", to}, {"Cc", cc}} {
		if len(f.list) == 0 {
			continue
		}
		tokens, err := addressListTokens(f.name, f.list)
		if err != nil {
			return err
		}
		h.WriteString(fold(f.name, tokens))
	}
	return nil
}

func writeSubject(h *strings.Builder, subject string) error {
	if err := CheckHeaderValue("Subject", subject); err != nil {
		return err
	}
	if subject != "" {
		h.WriteString(fold("Subject", unstructuredTokens(subject)))
	}
	return nil
}

func writeExtra(h *strings.Builder, fields [][2]string) error {
	for _, f := range fields {
		if err := checkExtraField(f[0], f[1]); err != nil {
			return err
		}
		h.WriteString(fold(f[0], strings.Split(f[1], " ")))
	}
	return nil
}

func checkExtraField(name, value string) error {
	if err := CheckHeaderValue(name, value); err != nil {
		return err
	}
	if !validFieldName(name) || reservedField(name) {
		return fmt.Errorf("%w: header field %q may not be set", ErrInvalid, name)
	}
	for _, c := range []byte(value) {
		if (c < ' ' || c > '~') && c != '\t' {
			return fmt.Errorf("%w: header field %s: value is not printable ASCII", ErrInvalid, name)
		}
	}
	return nil
}

// validFieldName reports whether name is an RFC 5322 §3.6.8 field-name.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// reservedField names the fields Write sets itself, which ExtraHeaders may not.
func reservedField(name string) bool {
	lower := strings.ToLower(name)
	switch lower {
	case "date", "from", "sender", "to", "cc", "bcc", "subject", "message-id", "mime-version",
		"return-path", "dkim-signature":
		return true
	}
	return strings.HasPrefix(lower, "content-")
}

// checkMessageID accepts "<id-left@id-right>" in printable ASCII (RFC 5322 §3.6.4).
func checkMessageID(id string) error {
	if err := CheckHeaderValue("Message-ID", id); err != nil {
		return err
	}
	if !validMessageID(id) {
		return fmt.Errorf("%w: Message-ID %q", ErrInvalid, id)
	}
	return nil
}

func validMessageID(id string) bool {
	inner, ok := strings.CutPrefix(id, "<")
	inner, ok2 := strings.CutSuffix(inner, ">")
	left, right, ok3 := strings.Cut(inner, "@")
	if !ok || !ok2 || !ok3 || left == "" || right == "" || strings.Contains(right, "@") {
		return false
	}
	for _, c := range []byte(inner) {
		if c <= ' ' || c > '~' || c == '<' || c == '>' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// addressListTokens returns the tokens of a comma-separated address list.
func addressListTokens(field string, list []Address) ([]string, error) {
	var tokens []string
	for i, a := range list {
		t, err := addressTokens(fmt.Sprintf("%s[%d]", field, i), a)
		if err != nil {
			return nil, err
		}
		if i < len(list)-1 {
			t[len(t)-1] += ","
		}
		tokens = append(tokens, t...)
	}
	return tokens, nil
}

// addressTokens formats a mailbox as phrase tokens and "<addr-spec>".
func addressTokens(field string, a Address) ([]string, error) {
	if err := CheckHeaderValue(field, a.Name); err != nil {
		return nil, err
	}
	spec, err := formatAddrSpec(field, a.Addr)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(a.Name) == "" {
		return []string{spec}, nil
	}
	return append(phraseTokens(a.Name), spec), nil
}

// formatAddrSpec returns "<addr>", quoting the local part when it is not a
// dot-atom. A non-ASCII address stays UTF-8 (RFC 6532 §3.2).
func formatAddrSpec(field, addr string) (string, error) {
	if err := CheckHeaderValue(field, addr); err != nil {
		return "", err
	}
	if !strings.Contains(addr, "@") {
		return "", fmt.Errorf("%w: %s: not an address", ErrInvalid, field)
	}
	formatted := (&mail.Address{Address: addr}).String()
	parsed, err := mail.ParseAddress(formatted)
	if err != nil || parsed.Address != addr {
		return "", fmt.Errorf("%w: %s: not an address", ErrInvalid, field)
	}
	return formatted, nil
}

// phraseTokens formats a display name (RFC 5322 §3.2.5): atoms as they are,
// other ASCII as one quoted-string, non-ASCII as encoded-words.
func phraseTokens(name string) []string {
	switch {
	case needsEncoding(name):
		return encodedWords(name)
	case isAtomPhrase(name):
		return strings.Fields(name)
	default:
		return []string{quoteString(name)}
	}
}

// unstructuredTokens splits an unstructured value (Subject) at its spaces, or
// encodes it as Q encoded-words when it is non-ASCII, could be mistaken for an
// encoded-word, or has a word too long to fold.
func unstructuredTokens(s string) []string {
	words := strings.Split(s, " ")
	encode := needsEncoding(s) || strings.Contains(s, "=?")
	for _, w := range words {
		encode = encode || len(w) > maxWordLength
	}
	if encode {
		return encodedWords(s)
	}
	return words
}

// Encoded-words (RFC 2047 §2) may have 75 characters; ours have at most 66,
// so that the first fits after "Subject: " within the soft line limit.
const (
	wordPrefix, wordSuffix = "=?utf-8?q?", "?="
	maxEncodedText         = 66 - len(wordPrefix) - len(wordSuffix)
)

// encodedWords encodes s as Q encoded-words (RFC 2047 §4.2), split between
// characters. Only letters, digits and "!*+-/" stay literal: the set RFC 2047
// §5(3) allows in a phrase, so the words are safe in display names as well as
// in unstructured fields. The spaces of s are encoded too, as "_", because
// the spaces between encoded-words are not part of the text (§6.2).
func encodedWords(s string) []string {
	var words []string
	var cur strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		enc := qEncode(string(r))
		if cur.Len()+len(enc) > maxEncodedText {
			words = append(words, wordPrefix+cur.String()+wordSuffix)
			cur.Reset()
		}
		cur.WriteString(enc)
	}
	return append(words, wordPrefix+cur.String()+wordSuffix)
}

func qEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!*+-/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// needsEncoding reports non-ASCII or control characters other than tab.
func needsEncoding(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf || r == 0x7f || r < ' ' && r != '\t' {
			return true
		}
	}
	return false
}

func isAtomPhrase(s string) bool {
	if strings.Contains(s, "=?") {
		return false // would be decoded as an encoded-word
	}
	for _, c := range []byte(s) {
		if c != ' ' && !isAtext(c) {
			return false
		}
	}
	return true
}

// isAtext reports RFC 5322 §3.2.3 atext.
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func quoteString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// fold returns "Name: tokens…\r\n", the tokens joined by spaces, starting a
// continuation line before a token that would pass the soft line limit.
func fold(name string, tokens []string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte(':')
	n := len(name) + 1
	for i, tok := range tokens {
		if i > 0 && tok != "" && n+1+len(tok) > softLineLimit {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteByte(' ')
		b.WriteString(tok)
		n += 1 + len(tok)
	}
	b.WriteString("\r\n")
	return b.String()
}
