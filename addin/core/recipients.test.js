import { test } from "node:test";
import assert from "node:assert/strict";

import { missingPhones, needsPhone, normalisePhone, summarise } from "./recipients.js";

test("normalisePhone", async (t) => {
  for (const [raw, region, want] of [
    ["0612345678", "NL", "+31612345678"],
    ["06-12345678", "NL", "+31612345678"],
    [" 06 1234 5678 ", "NL", "+31612345678"],
    ["+31 6 12345678", "NL", "+31612345678"],
    ["+31 (0)6 1234 5678", "NL", "+31612345678"],
    ["0031612345678", "NL", "+31612345678"],
    ["+32 470 12 34 56", "NL", "+32470123456"],
    ["0470 12 34 56", "BE", "+32470123456"],
    ["0470 12 34 56", "be", "+32470123456"],
    ["01701234567", "DE", "+491701234567"],
    ["621 123 456", "LU", "+352621123456"],
    ["0201234567", "NL", null], // Dutch landline: no SMS
    ["+31201234567", "NL", null],
    ["061234567", "NL", null], // too short
    ["06123456789", "NL", null], // too long
    ["612345678", "NL", null], // no trunk prefix
    ["+1234567890123456", "NL", null], // more than 15 digits
    ["06-1234-567a", "NL", null],
    ["0612345678", "XX", null],
    ["", "NL", null],
    [undefined, "NL", null],
  ]) {
    await t.test(`${raw} ${region}`, () => assert.equal(normalisePhone(raw, region), want));
  }
  assert.equal(normalisePhone("0612345678"), "+31612345678", "NL is the default region");
});

const resolutions = [
  { address: "a@gemeente.example", route: "internal", reason: "community-domain" },
  { address: "b@burger.example", route: "external", reason: "not-in-community" },
  { address: "nope", route: "invalid", reason: "invalid-syntax" },
  { address: "c@bedrijf.example", route: "external", reason: "not-in-community" },
  { address: "d@x.example", route: "something-new", reason: "" },
];

test("summarise", () => {
  const s = summarise(resolutions);
  assert.deepEqual(s.internal.map((r) => r.address), ["a@gemeente.example"]);
  assert.deepEqual(s.external.map((r) => r.address), ["b@burger.example", "c@bedrijf.example"]);
  assert.deepEqual(s.invalid.map((r) => r.address), ["nope", "d@x.example"]);
  assert.deepEqual(summarise(undefined), { internal: [], external: [], invalid: [] });
});

test("needsPhone", () => {
  assert.deepEqual(resolutions.map(needsPhone), [false, true, false, true, false]);
  assert.equal(needsPhone(null), false);
});

test("missingPhones", () => {
  const phones = { "B@Burger.example": "06 12345678", "c@bedrijf.example": "020 1234567" };
  assert.deepEqual(missingPhones(resolutions, phones), ["c@bedrijf.example"]);
  assert.deepEqual(missingPhones(resolutions), ["b@burger.example", "c@bedrijf.example"]);
});
