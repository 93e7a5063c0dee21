import { test } from "node:test";
import assert from "node:assert/strict";

import {
  MAX_PATTERN_LENGTH, MAX_PATTERNS, PATTERNS_MAX_AGE_MS, cachedPatterns, isFresh, parseEntry, refreshPatterns,
  usablePatterns,
} from "./patterns.js";

const ZAAK = { name: "zaaknummer", pattern: "Z-[0-9]{6}" };
const DOSSIER = { name: "dossier", pattern: "D[0-9]{8}" };
const NOW = 100 * PATTERNS_MAX_AGE_MS;

test("usablePatterns keeps only what detect accepts", async (t) => {
  const cases = [
    { name: "good", in: [ZAAK], want: [ZAAK] },
    { name: "not a list", in: { patterns: [ZAAK] }, want: [] },
    { name: "reserved and empty names", in: [{ name: "bsn", pattern: "x" }, { name: "iban", pattern: "x" }, { name: "", pattern: "x" }], want: [] },
    { name: "bad shapes", in: [null, 3, { name: "a" }, { name: "a", pattern: 7 }, { name: "a", pattern: "" }], want: [] },
    { name: "extra fields dropped", in: [{ ...ZAAK, extra: 1 }], want: [ZAAK] },
    { name: "too long", in: [{ name: "a", pattern: "x".repeat(MAX_PATTERN_LENGTH + 1) }], want: [] },
  ];
  for (const c of cases) await t.test(c.name, () => assert.deepEqual(usablePatterns(c.in), c.want));
  const many = Array.from({ length: MAX_PATTERNS + 5 }, (_, i) => ({ name: `p${i}`, pattern: "x" }));
  assert.equal(usablePatterns(many).length, MAX_PATTERNS);
});

test("isFresh", async (t) => {
  const cases = [
    { name: "just fetched", entry: { fetchedAt: NOW }, want: true },
    { name: "almost an hour", entry: { fetchedAt: NOW - PATTERNS_MAX_AGE_MS + 1 }, want: true },
    { name: "an hour", entry: { fetchedAt: NOW - PATTERNS_MAX_AGE_MS }, want: false },
    { name: "in the future (clock changed)", entry: { fetchedAt: NOW + 1 }, want: false },
    { name: "no time", entry: { patterns: [] }, want: false },
    { name: "no entry", entry: null, want: false },
  ];
  for (const c of cases) await t.test(c.name, () => assert.equal(isFresh(c.entry, NOW), c.want));
});

test("parseEntry and cachedPatterns survive broken storage", async (t) => {
  const cases = [
    { name: "good", raw: JSON.stringify({ fetchedAt: 1, patterns: [ZAAK] }), want: [ZAAK] },
    { name: "not JSON", raw: "{nope", want: [] },
    { name: "JSON null", raw: "null", want: [] },
    { name: "JSON string", raw: "\"x\"", want: [] },
    { name: "missing", raw: null, want: [] },
  ];
  for (const c of cases) await t.test(c.name, () => assert.deepEqual(cachedPatterns(parseEntry(c.raw)), c.want));
});

// cache is an in-memory store; fetched counts detectPatterns calls.
function setup({ entry = null, answer = [DOSSIER], fails = false, loadFails = false } = {}) {
  const state = { entry, fetched: 0 };
  const client = {
    async detectPatterns() {
      state.fetched++;
      if (fails) throw Object.assign(new Error("down"), { status: 503 });
      return answer;
    },
  };
  const load = () => {
    if (loadFails) throw new Error("storage");
    return state.entry;
  };
  const save = async (e) => { state.entry = e; };
  return { state, args: { client, load, save, now: NOW } };
}

test("refreshPatterns", async (t) => {
  const fresh = { fetchedAt: NOW - 1000, patterns: [ZAAK] };
  const stale = { fetchedAt: NOW - PATTERNS_MAX_AGE_MS, patterns: [ZAAK] };
  const cases = [
    { name: "nothing cached: fetch and save", opts: {}, want: [DOSSIER], fetched: 1, saved: { fetchedAt: NOW, patterns: [DOSSIER] } },
    { name: "fresh cache: no fetch", opts: { entry: fresh }, want: [ZAAK], fetched: 0, saved: fresh },
    { name: "fresh cache, forced: fetch", opts: { entry: fresh }, force: true, want: [DOSSIER], fetched: 1, saved: { fetchedAt: NOW, patterns: [DOSSIER] } },
    { name: "stale cache: fetch", opts: { entry: stale }, want: [DOSSIER], fetched: 1, saved: { fetchedAt: NOW, patterns: [DOSSIER] } },
    { name: "stale cache, server down: keep it", opts: { entry: stale, fails: true }, want: [ZAAK], fetched: 1, saved: stale },
    { name: "nothing cached, server down", opts: { fails: true }, want: [], fetched: 1, saved: null },
    { name: "storage unreadable: fetch", opts: { loadFails: true }, want: [DOSSIER], fetched: 1, saved: { fetchedAt: NOW, patterns: [DOSSIER] } },
    { name: "server sends junk: filtered", opts: { answer: [DOSSIER, { name: "bsn", pattern: "x" }] }, want: [DOSSIER], fetched: 1, saved: { fetchedAt: NOW, patterns: [DOSSIER] } },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const { state, args } = setup(c.opts);
      assert.deepEqual(await refreshPatterns({ ...args, force: c.force }), c.want);
      assert.equal(state.fetched, c.fetched);
      assert.deepEqual(state.entry, c.saved);
    });
  }
});
