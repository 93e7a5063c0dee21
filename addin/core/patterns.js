// Cache of the organisation's extra sensitive-data patterns (GET
// /api/v1/detect/patterns, api/openapi.yaml) for the add-ins' on-send checks.
// The clients fetch the list after sign-in and at most once per
// PATTERNS_MAX_AGE_MS, and store it as a JSON entry {fetchedAt, patterns}
// (fetchedAt in ms since the epoch): Outlook in localStorage, Thunderbird in
// storage.local. The on-send checks only read the entry, never fetch.
//
// No imports: addin/build.mjs inlines this file into outlook/commands.js.

/** Storage key of the cache entry (localStorage in Outlook, storage.local in Thunderbird). */
export const PATTERNS_KEY = "veilig.patterns";

/** How long a fetched list is used before it is fetched again. */
export const PATTERNS_MAX_AGE_MS = 60 * 60 * 1000;

/** Bounds on what is kept, so a broken server cannot fill the storage. */
export const MAX_PATTERNS = 200;
export const MAX_PATTERN_LENGTH = 2000;

const RESERVED = ["bsn", "iban"];

/**
 * usablePatterns keeps the entries detect() accepts: {name, pattern} strings,
 * name neither empty nor a built-in kind, pattern non-empty and bounded.
 * Whether JavaScript can compile a pattern is left to detect(), which skips it.
 */
export function usablePatterns(list) {
  if (!Array.isArray(list)) return [];
  const out = [];
  for (const p of list) {
    if (!isUsable(p)) continue;
    out.push({ name: p.name, pattern: p.pattern });
    if (out.length >= MAX_PATTERNS) break;
  }
  return out;
}

function isUsable(p) {
  if (typeof p?.name !== "string" || p.name === "" || RESERVED.includes(p.name)) return false;
  return typeof p.pattern === "string" && p.pattern !== "" && p.pattern.length <= MAX_PATTERN_LENGTH;
}

/** isFresh reports whether entry was fetched less than PATTERNS_MAX_AGE_MS before now. */
export function isFresh(entry, now) {
  const at = entry?.fetchedAt;
  return Number.isFinite(at) && at <= now && now - at < PATTERNS_MAX_AGE_MS;
}

/** cachedPatterns returns the usable patterns of an entry, fresh or not. */
export function cachedPatterns(entry) {
  return usablePatterns(entry?.patterns);
}

/** parseEntry reads an entry stored as JSON text; anything broken is no entry. */
export function parseEntry(raw) {
  if (typeof raw !== "string" || raw === "") return null;
  try {
    const entry = JSON.parse(raw);
    return entry && typeof entry === "object" ? entry : null;
  } catch {
    return null;
  }
}

/**
 * refreshPatterns returns the patterns to use, fetching them with
 * client.detectPatterns() when the stored entry is missing or older than
 * PATTERNS_MAX_AGE_MS (or force is set) and saving the new entry.
 * load() and save(entry) may be synchronous or return promises. A failed
 * fetch keeps the stored entry and answers its patterns.
 */
export async function refreshPatterns({ client, load, save, now = Date.now(), force = false }) {
  let entry = null;
  try {
    entry = await load();
  } catch {
    entry = null;
  }
  if (!force && isFresh(entry, now)) return cachedPatterns(entry);
  try {
    const patterns = usablePatterns(await client.detectPatterns());
    await save({ fetchedAt: now, patterns });
    return patterns;
  } catch {
    return cachedPatterns(entry);
  }
}
