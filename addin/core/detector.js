// Sensitive-data detector: finds Dutch citizen service numbers (BSN, checked with
// the "elfproef", the 11-test of the Wet algemene bepalingen burgerservicenummer)
// and IBANs (ISO 13616, checked with ISO 7064 MOD 97-10) in a draft, plus extra
// named patterns an organisation configures. The Go package internal/detect
// implements the same rules; both are checked against testdata/detector.json.
//
// Indexes are UTF-16 code-unit offsets into the text (usable with text.slice).

/** Matches reported per call at most; the prompt needs a few, not all. */
export const MAX_MATCHES = 100;

/** IBAN lengths per country (ISO 13616 registry); others use 15–34. */
export const IBAN_LENGTHS = Object.freeze({
  AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24,
  FI: 18, FR: 27, GB: 22, GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21,
  LT: 20, LU: 20, LV: 21, MT: 31, NL: 18, NO: 15, PL: 28, PT: 25, RO: 24, SE: 24,
  SI: 19, SK: 24,
});

const BSN_WEIGHTS = [9, 8, 7, 6, 5, 4, 3, 2, -1];
const BUILTIN_KINDS = new Set(["bsn", "iban"]);

/**
 * isValidBSN reports whether s is exactly nine digits passing the 11-test
 * (weights 9..2 and −1 for the last digit); 000000000 is not a BSN.
 */
export function isValidBSN(s) {
  if (typeof s !== "string" || !/^[0-9]{9}$/.test(s) || s === "000000000") return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += BSN_WEIGHTS[i] * (s.charCodeAt(i) - 48);
  return sum % 11 === 0;
}

/**
 * isValidIBAN reports whether s (spaces allowed, any case) is an IBAN: country
 * letters, check digits 02–98, the country's length (15–34 for countries not in
 * IBAN_LENGTHS) and MOD 97-10 remainder 1.
 */
export function isValidIBAN(s) {
  if (typeof s !== "string") return false;
  const iban = s.replace(/[ \u00a0]/g, "").toUpperCase();
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]+$/.test(iban)) return false;
  const check = iban.slice(2, 4);
  if (check === "00" || check === "01" || check === "99") return false;
  const want = IBAN_LENGTHS[iban.slice(0, 2)];
  if (want ? iban.length !== want : iban.length < 15 || iban.length > 34) return false;
  return mod97(iban.slice(4) + iban.slice(0, 4)) === 1;
}

function mod97(s) {
  let r = 0;
  for (const c of s) {
    const v = parseInt(c, 36);
    r = v < 10 ? (r * 10 + v) % 97 : (r * 100 + v) % 97;
  }
  return r;
}

/**
 * detect finds BSNs, IBANs and matches of extra patterns in text.
 * patterns: [{name, pattern}] where pattern is a regular expression source
 * (the subset shared by JavaScript and Go RE2). Returns unique matches in text
 * order, [{kind, match, index}]; overlapping matches keep the first.
 */
export function detect(text, { patterns = [] } = {}) {
  if (typeof text !== "string" || text === "") return [];
  const found = [...findBSNs(text), ...findIBANs(text)];
  for (const p of compilePatterns(patterns)) found.push(...findPattern(text, p));
  return uniqueInOrder(found);
}

// compilePatterns checks the names (a bad one is a programming error) and
// compiles the expressions. An expression JavaScript cannot compile (RE2-only
// syntax such as (?i) or \z) is skipped with a warning naming the pattern,
// never its text, so the built-in checks and the send go on.
function compilePatterns(patterns) {
  const out = [];
  for (const { name, pattern } of patterns) {
    if (typeof name !== "string" || name === "" || BUILTIN_KINDS.has(name)) {
      throw new TypeError(`detector: pattern name ${JSON.stringify(name)} is empty or reserved`);
    }
    const re = compile(pattern);
    if (re) out.push({ name, re });
    else warn(`detector: pattern ${JSON.stringify(name)} skipped: not a JavaScript regular expression`);
  }
  return out;
}

function compile(pattern) {
  if (typeof pattern !== "string" || pattern === "") return null;
  try {
    return new RegExp(pattern, "gu");
  } catch {
    return null;
  }
}

// warn logs to console.warn where there is one (Outlook's JavaScript-only
// runtime and node:vm contexts may lack console).
function warn(text) {
  if (typeof console !== "undefined" && typeof console.warn === "function") console.warn(text);
}

function findPattern(text, { name, re }) {
  const out = [];
  for (const m of text.matchAll(re)) {
    if (m[0] === "") continue;
    out.push({ kind: name, match: m[0], index: m.index, key: m[0] });
    if (out.length >= MAX_MATCHES) break;
  }
  return out;
}

function uniqueInOrder(found) {
  const order = (m) => (m.kind === "bsn" ? 0 : m.kind === "iban" ? 1 : 2);
  found.sort((a, b) => a.index - b.index || order(a) - order(b));
  const seen = new Set();
  const out = [];
  let end = 0;
  for (const m of found) {
    const key = `${m.kind}\u0000${m.key}`;
    if (m.index < end || seen.has(key)) continue;
    seen.add(key);
    end = m.index + m.match.length;
    out.push({ kind: m.kind, match: m.match, index: m.index });
    if (out.length >= MAX_MATCHES) break;
  }
  return out;
}

// ---- BSN ----

const isDigit = (c) => c >= "0" && c <= "9";
const isAsciiAlnum = (c) => /^[A-Za-z0-9]$/.test(c);
const isWordChar = (c) => c !== undefined && /^[\p{L}\p{N}]$/u.test(c);
const JOINERS = " .-/()\u00a0";

// numberTokens yields maximal runs of digit groups joined by at most two
// separator characters: a phone number, date or grouped number is one token.
function* numberTokens(text) {
  let i = 0;
  while (i < text.length) {
    if (!isDigit(text[i])) { i++; continue; }
    const start = i;
    let end = skipDigits(text, i);
    for (;;) {
      let j = end;
      while (j < text.length && j - end < 2 && JOINERS.includes(text[j])) j++;
      if (j === end || !isDigit(text[j])) break;
      end = skipDigits(text, j);
    }
    yield { start, end };
    i = end;
  }
}

function skipDigits(text, i) {
  while (i < text.length && isDigit(text[i])) i++;
  return i;
}

// A BSN is written 123456782, 123.456.782, 123 456 782 or 1234.56.782.
const BSN_FORMS = /^(?:[0-9]{9}|[0-9]{3}\.[0-9]{3}\.[0-9]{3}|[0-9]{3}[ \u00a0][0-9]{3}[ \u00a0][0-9]{3}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})$/;
const BSN_PLAIN = /^[0-9]{9}$/;

function findBSNs(text) {
  const out = [];
  for (const { start, end } of numberTokens(text)) {
    if (start > 0 && (text[start - 1] === "+" || isWordChar(text[start - 1]))) continue;
    if (isWordChar(text[end])) continue;
    for (const c of bsnCandidates(text.slice(start, end), start)) {
      const digits = c.match.replace(/[^0-9]/g, "");
      if (isValidBSN(digits)) out.push({ kind: "bsn", match: c.match, index: c.index, key: digits });
    }
  }
  return out;
}

// bsnCandidates: the whole token in a BSN form, or, for a list such as
// "123456782 111222333", each nine-digit part.
function bsnCandidates(token, offset) {
  if (BSN_FORMS.test(token)) return [{ match: token, index: offset }];
  const parts = token.split(" ");
  if (parts.length < 2 || !parts.every((p) => BSN_PLAIN.test(p))) return [];
  return parts.map((p, k) => ({ match: p, index: offset + k * 10 }));
}

// ---- IBAN ----

function findIBANs(text) {
  const out = [];
  const head = /[A-Za-z]{2}[0-9]{2}/g;
  let m;
  while ((m = head.exec(text)) !== null) {
    if (m.index > 0 && isWordChar(text[m.index - 1])) continue;
    const hit = ibanAt(text, m.index);
    if (hit) {
      out.push(hit);
      head.lastIndex = hit.index + hit.match.length;
    }
  }
  return out;
}

// ibanAt tries the longest run of alphanumeric chunks separated by single
// spaces (every chunk but the last a multiple of four long) and gives back the
// longest prefix of whole chunks that is a valid IBAN, so words after the IBAN
// are not taken along.
function ibanAt(text, start) {
  const ends = [];
  let compact = 0;
  let i = start;
  for (;;) {
    let j = i;
    while (j < text.length && isAsciiAlnum(text[j])) j++;
    compact += j - i;
    if (compact > 34) break;
    ends.push(j);
    const sep = text[j] === " " || text[j] === "\u00a0";
    if ((j - i) % 4 !== 0 || !sep || !isAsciiAlnum(text[j + 1] ?? "")) break;
    i = j + 1;
  }
  for (let k = ends.length - 1; k >= 0; k--) {
    if (isWordChar(text[ends[k]])) continue;
    const match = text.slice(start, ends[k]);
    if (isValidIBAN(match)) {
      return { kind: "iban", match, index: start, key: match.replace(/[ \u00a0]/g, "").toUpperCase() };
    }
  }
  return null;
}
