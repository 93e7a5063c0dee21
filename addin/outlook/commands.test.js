// Tests for the on-send handler: the built classic script is current and, run in
// a fresh VM context like Outlook's JavaScript-only runtime (no modules), it
// allows clean drafts, prompts on a BSN and never blocks on failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { OfficeMockObject } from "office-addin-mock";
import { build, TARGET } from "../build.mjs";

const BUILT = readFileSync(TARGET, "utf8");

test("commands.js is built from commands.src.js and is current", () => {
  assert.equal(BUILT, build(), "run `node build.mjs` in addin/");
  assert.doesNotMatch(BUILT, /^\s*(import|export)\b/m);
});

// load runs commands.js with the given Office mock and returns the handler
// it associated with onMessageSend.
function load(office, extra = {}) {
  const handlers = {};
  office.actions = { associate: (name, fn) => (handlers[name] = fn) };
  vm.runInNewContext(BUILT, { Office: office, setTimeout, clearTimeout, ...extra });
  assert.equal(typeof handlers.onMessageSend, "function");
  return handlers.onMessageSend;
}

function ok(value) {
  return { status: "succeeded", value };
}

function mockOffice({ subject = "Afspraak", body = "Tot morgen.", lang = "nl-NL", sets = ["1.12", "1.13", "1.14", "1.15"], bodyGetAsync } = {}) {
  return new OfficeMockObject({
    host: "outlook",
    CoercionType: { Html: "html", Text: "text" },
    MailboxEnums: { SendModeOverride: { PromptUser: "promptUser", Block: "block", SoftBlock: "softBlock" } },
    context: {
      displayLanguage: lang,
      requirements: { isSetSupported: (name, v) => name === "Mailbox" && sets.includes(v) },
      mailbox: {
        item: {
          subject: { getAsync: (cb) => cb(ok(subject)) },
          body: { getAsync: bodyGetAsync ?? ((coercion, cb) => cb(ok(coercion === "text" ? body : `<p>${body}</p>`))) },
        },
      },
    },
  });
}

// run calls the handler and resolves with the options passed to completed.
function run(office, extra) {
  const handler = load(office, extra);
  return new Promise((resolve) => handler({ completed: resolve }));
}

test("on-send decisions", async () => {
  const cases = [
    { name: "nothing sensitive", office: mockOffice(), want: { allowEvent: true } },
    { name: "a number that is no BSN", office: mockOffice({ body: "Factuur 123456789." }), want: { allowEvent: true } },
    {
      name: "valid BSN, Dutch, 1.15",
      office: mockOffice({ body: "Het BSN is 111222333." }),
      want: {
        allowEvent: false,
        errorMessage: "Dit bericht lijkt een BSN/IBAN te bevatten. Veilig verzenden?",
        errorMessageMarkdown: "Dit bericht lijkt een BSN/IBAN te bevatten. Veilig verzenden?\n\n**BSN**",
        cancelLabel: "Veilig verzenden",
        commandId: "veiligSendSecurely",
        sendModeOverride: "promptUser",
      },
    },
    {
      name: "IBAN in the subject, English, 1.14",
      office: mockOffice({ subject: "Refund to NL91 ABNA 0417 1643 00", lang: "en-GB", sets: ["1.12", "1.13", "1.14"] }),
      want: {
        allowEvent: false,
        errorMessage: "This message seems to contain a BSN/IBAN. Send securely?",
        cancelLabel: "Send securely",
        commandId: "veiligSendSecurely",
        sendModeOverride: "promptUser",
      },
    },
    {
      name: "valid BSN, 1.12 only: plain prompt",
      office: mockOffice({ body: "BSN 123456782", sets: ["1.12"] }),
      want: { allowEvent: false, errorMessage: "Dit bericht lijkt een BSN/IBAN te bevatten. Veilig verzenden?" },
    },
    {
      name: "body read throws",
      office: mockOffice({ bodyGetAsync: () => { throw new Error("boom"); } }),
      want: { allowEvent: true },
    },
    {
      name: "body read fails",
      office: mockOffice({ bodyGetAsync: (c, cb) => cb({ status: "failed", error: { message: "no" } }) }),
      want: { allowEvent: true },
    },
  ];
  for (const c of cases) {
    const got = await run(c.office);
    assert.deepEqual({ ...got }, c.want, c.name);
  }
});

test("a missing mailbox still lets the send go", async () => {
  const office = new OfficeMockObject({ host: "outlook", context: {} });
  assert.deepEqual({ ...(await run(office)) }, { allowEvent: true });
});

// storageWith is a localStorage holding raw under the pattern cache key; it
// fails the test on any write (the handler only reads).
function storageWith(raw) {
  return {
    getItem: (k) => (k === "veilig.patterns" ? raw : null),
    setItem: () => assert.fail("commands.js must not write"),
    removeItem: () => assert.fail("commands.js must not write"),
  };
}

test("on-send uses the task pane's cached patterns and never fetches", async () => {
  const entry = (patterns) => JSON.stringify({ fetchedAt: 1, patterns });
  const zaak = { name: "zaaknummer", pattern: "Z-[0-9]{6}" };
  const bad = { name: "re2only", pattern: "(?i)geheim" };
  const noFetch = () => assert.fail("commands.js must not fetch");
  const warned = [];
  const console = { warn: (...a) => warned.push(a.join(" ")) };
  const cases = [
    { name: "pattern match blocks", body: "Zaak Z-123456", raw: entry([zaak]), allow: false },
    { name: "stale cache still used", body: "Zaak Z-123456", raw: JSON.stringify({ fetchedAt: 0, patterns: [zaak] }), allow: false },
    { name: "no match goes", body: "Tot morgen.", raw: entry([zaak]), allow: true },
    { name: "bad pattern skipped, BSN still blocks", body: "BSN 111222333", raw: entry([bad, zaak]), allow: false },
    { name: "bad pattern skipped, send goes", body: "GEHEIM", raw: entry([bad]), allow: true },
    { name: "reserved name in cache ignored", body: "BSN 111222333", raw: entry([{ name: "bsn", pattern: "x" }]), allow: false },
    { name: "broken cache: built-ins only", body: "BSN 111222333", raw: "{broken", allow: false },
    { name: "no cache: built-ins only", body: "Zaak Z-123456", raw: null, allow: true },
  ];
  for (const c of cases) {
    const extra = { localStorage: storageWith(c.raw), fetch: noFetch, XMLHttpRequest: noFetch, console };
    const got = await run(mockOffice({ body: c.body }), extra);
    assert.equal(got.allowEvent, c.allow, c.name);
  }
  assert.ok(warned.length > 0 && warned.every((w) => !/geheim|111222333/i.test(w)), "warnings name the pattern only");
});

test("a localStorage that throws still lets the check run", async () => {
  const localStorage = { getItem: () => { throw new Error("SecurityError"); } };
  const got = await run(mockOffice({ body: "BSN 111222333" }), { localStorage });
  assert.equal(got.allowEvent, false);
  assert.equal((await run(mockOffice(), { localStorage })).allowEvent, true);
});
