import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { detect, isValidBSN, isValidIBAN, MAX_MATCHES } from "./detector.js";

// Shared with internal/detect (Go).
const vectors = JSON.parse(readFileSync(new URL("./testdata/detector.json", import.meta.url), "utf8"));

test("vectors are present", () => {
  assert.ok(vectors.bsn.length > 0 && vectors.iban.length > 0 && vectors.detect.length > 0);
});

test("isValidBSN", async (t) => {
  for (const { input, valid } of vectors.bsn) {
    await t.test(JSON.stringify(input), () => assert.equal(isValidBSN(input), valid));
  }
});

test("isValidIBAN", async (t) => {
  for (const { input, valid } of vectors.iban) {
    await t.test(JSON.stringify(input), () => assert.equal(isValidIBAN(input), valid));
  }
});

test("detect", async (t) => {
  for (const tc of vectors.detect) {
    await t.test(tc.name, () => {
      const got = detect(tc.text, { patterns: tc.patterns ?? [] });
      assert.deepEqual(got, tc.want);
      for (const m of got) assert.equal(tc.text.slice(m.index, m.index + m.match.length), m.match);
    });
  }
});

test("non-string input", () => {
  assert.equal(isValidBSN(123456782), false);
  assert.equal(isValidIBAN(null), false);
  assert.deepEqual(detect(undefined), []);
});

test("bad pattern names are refused", async (t) => {
  for (const name of ["", "bsn", "iban", undefined]) {
    await t.test(String(name), () => {
      assert.throws(() => detect("x", { patterns: [{ name, pattern: "x" }] }), TypeError);
    });
  }
});

test("matches are bounded", () => {
  const bsns = [];
  for (let n = 100000000; bsns.length < MAX_MATCHES + 20; n++) {
    const s = String(n);
    if (isValidBSN(s)) bsns.push(s);
  }
  assert.equal(detect(bsns.join(", ")).length, MAX_MATCHES);
});

test("patterns JavaScript cannot compile are skipped with a warning that holds no text", async (t) => {
  const text = "BSN 111222333, zaak Z-123456, geheim";
  const cases = [
    { name: "RE2 inline flag", pattern: "(?i)geheim" },
    { name: "RE2 end of text", pattern: "geheim\\z" },
    { name: "unbalanced", pattern: "(geheim" },
    { name: "not a string", pattern: 42 },
    { name: "empty", pattern: "" },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const warn = t.mock.method(console, "warn", () => {});
      const got = detect(text, { patterns: [{ name: "kapot", pattern: c.pattern }, { name: "zaak", pattern: "Z-[0-9]{6}" }] });
      assert.deepEqual(got.map((m) => m.kind), ["bsn", "zaak"]);
      assert.equal(warn.mock.calls.length, 1);
      const logged = warn.mock.calls[0].arguments.join(" ");
      assert.match(logged, /"kapot"/);
      assert.doesNotMatch(logged, /111222333|Z-123456|geheim/);
      warn.mock.restore();
    });
  }
});
