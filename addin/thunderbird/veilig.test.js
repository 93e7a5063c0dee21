// Unit tests of veilig.js with a fake messenger and a fake core client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KEYS, address, addresses, createVeilig, describe, htmlText, origin } from "./veilig.js";
import { fakeClientClass, fakeMessenger } from "./testing/fake_messenger.js";
import * as patterns from "../core/patterns.js";
import { detect as realDetect } from "../core/detector.js";

const detect = (text) => [...String(text).matchAll(/\b\d{9}\b/g)].map((x) => ({ kind: "bsn", match: x[0], index: x.index }));
const normalisePhone = (raw) => (/^06\d{8}$/.test(raw) ? "+316" + raw.slice(2) : /^\+\d{8,15}$/.test(raw) ? raw : null);
const needsPhone = (r) => r.route === "external";

function setup(opts = {}, script = {}, deps = {}) {
  const m = fakeMessenger({ local: { [KEYS.server]: "https://veilig.test/" }, ...opts });
  const { FakeClient, log } = fakeClientClass(script);
  const app = createVeilig({
    messenger: m, core: { VeiligClient: FakeClient, detect: deps.detect ?? detect, normalisePhone, needsPhone, patterns },
    sleep: async () => {}, uuid: () => "key-1", now: deps.now,
  });
  return { m, app, log };
}

test("address and addresses", () => {
  const cases = [
    ["Jan Jansen <Jan@Gemeente.test>", "jan@gemeente.test"],
    ["a@b.test", "a@b.test"],
    [" x@y.test ", "x@y.test"],
    [{ id: "c1", type: "contact" }, ""],
  ];
  for (const [in_, want] of cases) assert.equal(address(in_), want);
  assert.deepEqual(addresses(["a@b.test", "A <a@b.test>", ""]), ["a@b.test"]);
  assert.deepEqual(addresses(undefined), []);
});

test("origin and htmlText", () => {
  assert.equal(origin("https://veilig.test/x"), "https://veilig.test");
  assert.equal(origin("ftp://veilig.test"), "");
  assert.equal(origin("nonsense"), "");
  assert.equal(htmlText("<p>BSN&nbsp;<b>111222333</b></p><script>x</script>").replace(/\s+/g, " ").trim(), "BSN 111222333");
});

test("server URL: own setting wins over the managed preset", async () => {
  const managed = { serverUrl: "https://preset.test" };
  let s = setup({ local: {}, managed });
  assert.equal(await s.app.serverUrl(), "https://preset.test");
  s = setup({ local: { serverUrl: "https://own.test" }, managed });
  assert.equal(await s.app.serverUrl(), "https://own.test");
  s = setup({ local: {} });
  assert.equal(await s.app.serverUrl(), "");
  await assert.rejects(s.app.client(), { code: "noServer" });
});

test("login stores tokens, logout removes them", async () => {
  const { m, app, log } = setup();
  await app.login("a@gemeente.test", "pw");
  assert.deepEqual(m.storage.local.data.tokens, { access: "a", refresh: "r", expiresAt: 1 });
  assert.equal(log[0].baseUrl, "https://veilig.test");
  await app.logout();
  assert.equal(m.storage.local.data.tokens, undefined);
});

test("secure switch per tab, default from options", async () => {
  const { m, app } = setup();
  assert.equal(await app.secure(1), false);
  await app.setSecure(1, true);
  assert.equal(await app.secure(1), true);
  assert.equal(await app.secure(2), false);
  await m.storage.local.set({ [KEYS.defaultSecure]: true });
  assert.equal(await app.secure(2), true);
  await app.setSecure(2, false);
  assert.equal(await app.secure(2), false);
});

test("phones are normalised and remembered per address", async () => {
  const { app } = setup();
  assert.equal(await app.setPhone("Ext <ext@mail.test>", "0612345678"), "+31612345678");
  assert.deepEqual(await app.phones(), { "ext@mail.test": "+31612345678" });
  await assert.rejects(app.setPhone("ext@mail.test", "12"), { code: "badPhone" });
  assert.equal(await app.setPhone("ext@mail.test", ""), "");
  assert.deepEqual(await app.phones(), {});
});

test("state resolves the recipients when signed in", async () => {
  const details = { to: ["Jan <jan@gemeente.test>"], cc: ["ext@mail.test"], subject: "S" };
  const { app, log } = setup({ details });
  let st = await app.state(5);
  assert.equal(st.signedIn, false);
  assert.deepEqual(st.recipients.map((r) => r.address), ["jan@gemeente.test", "ext@mail.test"]);
  await app.login("u", "p");
  await app.setPhone("ext@mail.test", "0612345678");
  st = await app.state(5);
  assert.deepEqual(st.recipients.map((r) => [r.address, r.route, r.needsPhone, r.phone]), [
    ["jan@gemeente.test", "internal", false, ""],
    ["ext@mail.test", "external", true, "+31612345678"],
  ]);
  assert.deepEqual(log.find((l) => l.op === "resolve").addrs, ["jan@gemeente.test", "ext@mail.test"]);
});

test("sendTab sends the draft with attachments and closes the tab", async () => {
  const file = new File(["%PDF-1.4 test"], "dossier.pdf", { type: "application/pdf" });
  const details = { to: ["jan@gemeente.test"], bcc: ["ext@mail.test"], subject: "Dossier", isPlainText: false,
    body: "<p>Zie bijlage</p>", plainTextBody: "Zie bijlage" };
  const { m, app, log } = setup({ details, files: [file] });
  await app.login("u", "p");
  await app.setPhone("ext@mail.test", "0612345678");
  await app.setSecure(9, true);
  const res = await app.sendTab(9);
  assert.equal(res.id, "msg-1");
  const sent = log.find((l) => l.op === "send");
  assert.deepEqual(sent.draft.to, ["jan@gemeente.test"]);
  assert.deepEqual(sent.draft.bcc, ["ext@mail.test"]);
  assert.equal(sent.draft.html, "<p>Zie bijlage</p>");
  assert.equal(sent.draft.text, "Zie bijlage");
  assert.deepEqual(sent.draft.phones, { "ext@mail.test": "+31612345678" });
  assert.equal(sent.draft.attachments[0].name, "dossier.pdf");
  assert.equal(sent.opts.idempotencyKey, "key-1");
  assert.deepEqual(m.calls.removed, [9]);
  assert.equal(m.storage.session.data["secure:9"], undefined);
});

test("sendTab keeps the tab and the idempotency key when the server refuses", async () => {
  const { m, app } = setup({ details: { to: ["ext@mail.test"] } }, { sendFails: true });
  await app.login("u", "p");
  await assert.rejects(app.sendTab(3), { status: 422 });
  assert.deepEqual(m.calls.removed, []);
  assert.equal(m.storage.session.data["idem:3"], "key-1");
  const res = await app.onMessage({ cmd: "send", tabId: 3 });
  assert.deepEqual(res, { ok: false, error: { code: "server", status: 422, title: "Invalid", detail: "phone missing", fields: [] } });
});

test("sendTab without recipients", async () => {
  const { app } = setup();
  await app.login("u", "p");
  await assert.rejects(app.sendTab(3), { code: "noRecipients" });
});

test("onBeforeSend", async (t) => {
  const cases = [
    { name: "plain message goes", secure: false, body: "Hallo", cancel: false, notes: 0 },
    { name: "secure mode stops it", secure: true, body: "Hallo", cancel: true, notes: 1, popup: true },
    { name: "BSN stops it", secure: false, body: "BSN 111222333", cancel: true, notes: 1 },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const { m, app } = setup();
      if (c.secure) await app.setSecure(4, true);
      const res = await app.onBeforeSend({ id: 4 }, { subject: "x", plainTextBody: c.body });
      assert.equal(Boolean(res.cancel), c.cancel);
      assert.equal(m.calls.notifications.length, c.notes);
      assert.equal(m.calls.popups.length, c.popup ? 1 : 0);
    });
  }
});

test("clicking the sensitive-data notification turns secure mode on", async () => {
  const { m, app } = setup();
  await app.onBeforeSend({ id: 6 }, { plainTextBody: "111222333" });
  assert.match(m.calls.notifications[0].message, /blockedSensitive\|BSN/);
  await app.onNotificationClicked("n1");
  assert.equal(await app.secure(6), true);
  assert.deepEqual(m.calls.popups, [{ windowId: 7 }]);
});

test("onSearchRequest", async (t) => {
  const results = { results: [
    { kind: "person", name: "Jan Jansen", email: "jan@gemeente.test", organisation: { id: "o", name: "Gemeente" } },
    { kind: "organisation", name: "Gemeente", organisation: { id: "o", name: "Gemeente" } },
  ] };
  await t.test("too short or signed out gives nothing", async () => {
    const { app, log } = setup({}, { searchResults: results });
    assert.deepEqual(await app.onSearchRequest({}, "ja"), { isCompleteResult: false, results: [] });
    await app.login("u", "p");
    assert.deepEqual(await app.onSearchRequest({}, "j"), { isCompleteResult: false, results: [] });
    assert.equal(log.filter((l) => l.op === "search").length, 0);
  });
  await t.test("people become contacts", async () => {
    const { app, log } = setup({}, { searchResults: results });
    await app.login("u", "p");
    const res = await app.onSearchRequest({}, "jan");
    assert.deepEqual(res, { isCompleteResult: false, results: [
      { DisplayName: "Jan Jansen", PrimaryEmail: "jan@gemeente.test", Company: "Gemeente" }] });
    assert.deepEqual(log.find((l) => l.op === "search"), { op: "search", q: "jan", limit: 10 });
  });
  await t.test("debounce drops superseded requests", async () => {
    const m = fakeMessenger({ local: { serverUrl: "https://veilig.test", tokens: { access: "a" } } });
    const { FakeClient, log } = fakeClientClass({ searchResults: results });
    let release;
    const gate = new Promise((r) => { release = r; });
    const app = createVeilig({ messenger: m, core: { VeiligClient: FakeClient, detect, normalisePhone, needsPhone },
      sleep: () => gate });
    const first = app.onSearchRequest({}, "ja");
    const second = app.onSearchRequest({}, "jan");
    release();
    assert.deepEqual((await first).results, []);
    assert.equal((await second).results.length, 1);
    assert.deepEqual(log.filter((l) => l.op === "search").map((l) => l.q), ["jan"]);
  });
  await t.test("server failure gives nothing", async () => {
    const { app } = setup({}, { searchFails: true });
    await app.login("u", "p");
    assert.deepEqual(await app.onSearchRequest({}, "jan"), { isCompleteResult: false, results: [] });
  });
});

test("onMessage commands", async () => {
  const { app } = setup();
  assert.deepEqual(await app.onMessage({ cmd: "nope" }), { ok: false, error: { code: "unknownCommand" } });
  assert.deepEqual(await app.onMessage({ cmd: "saveServer", url: "javascript:alert(1)" }),
    { ok: false, error: { code: "badServer", detail: "" } });
  assert.deepEqual(await app.onMessage({ cmd: "login", username: "u", password: "p" }), { ok: true, value: undefined });
  await app.onMessage({ cmd: "setDefault", on: true });
  assert.deepEqual((await app.onMessage({ cmd: "settings" })).value,
    { serverUrl: "https://veilig.test/", signedIn: true, defaultSecure: true });
});

test("describe hides everything but the problem", () => {
  assert.deepEqual(describe(new TypeError("Failed to fetch")), { code: "network", detail: "Failed to fetch" });
});

const ORG_PATTERNS = [{ name: "zaaknummer", pattern: "Z-[0-9]{6}" }, { name: "re2only", pattern: "(?i)geheim" }];
const HOUR = patterns.PATTERNS_MAX_AGE_MS;

test("the pattern cache key is core's", () => {
  assert.equal(KEYS.patterns, patterns.PATTERNS_KEY);
});

test("sign-in fetches the organisation's patterns into storage.local", async () => {
  const { m, app, log } = setup({}, { patterns: ORG_PATTERNS }, { now: () => 5000 });
  await app.login("u", "p");
  assert.deepEqual(m.storage.local.data[KEYS.patterns], { fetchedAt: 5000, patterns: ORG_PATTERNS });
  assert.equal(log.filter((l) => l.op === "detectPatterns").length, 1);
  await app.logout();
  assert.equal(m.storage.local.data[KEYS.patterns], undefined, "sign-out forgets them");
});

test("patterns are fetched at most hourly and kept when the server fails", async (t) => {
  const cases = [
    { name: "fresh: no fetch", age: HOUR - 1, fails: false, fetches: 0, want: [ORG_PATTERNS[0]] },
    { name: "stale: fetched again", age: HOUR, fails: false, fetches: 1, want: ORG_PATTERNS },
    { name: "stale, server down: cache kept", age: HOUR, fails: true, fetches: 1, want: [ORG_PATTERNS[0]] },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const NOW = 10 * HOUR;
      const stored = { fetchedAt: NOW - c.age, patterns: [ORG_PATTERNS[0]] };
      const local = { [KEYS.server]: "https://veilig.test/", tokens: { access: "a" }, [KEYS.patterns]: stored };
      const { m, app, log } = setup({ local }, { patterns: ORG_PATTERNS, patternsFail: c.fails }, { now: () => NOW });
      assert.deepEqual(await app.updatePatterns(), c.want);
      assert.equal(log.filter((l) => l.op === "detectPatterns").length, c.fetches);
      assert.deepEqual(m.storage.local.data[KEYS.patterns].patterns, c.want);
    });
  }
});

test("signed out, patterns are not fetched", async () => {
  const { app, log } = setup({}, { patterns: ORG_PATTERNS });
  assert.deepEqual(await app.updatePatterns(), []);
  assert.equal(log.filter((l) => l.op === "detectPatterns").length, 0);
});

test("onBeforeSend uses the cached patterns; one that does not compile is skipped", async (t) => {
  const cases = [
    { name: "organisation pattern stops it", body: "Zaak Z-123456", cancel: true, kinds: "ZAAKNUMMER" },
    { name: "BSN still found next to a bad pattern", body: "BSN 111222333", cancel: true, kinds: "BSN" },
    { name: "no match goes", body: "GEHEIM maar niets", cancel: false },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const stored = { fetchedAt: 1, patterns: ORG_PATTERNS };
      const { m, app } = setup({ local: { [KEYS.server]: "https://veilig.test/", [KEYS.patterns]: stored } }, {}, { detect: realDetect });
      const warn = t.mock.method(console, "warn", () => {});
      const res = await app.onBeforeSend({ id: 4 }, { subject: "x", plainTextBody: c.body });
      assert.equal(Boolean(res.cancel), c.cancel);
      if (c.cancel) assert.match(m.calls.notifications[0].message, new RegExp(`blockedSensitive\\|${c.kinds}$`));
      assert.ok(warn.mock.calls.length > 0, "the bad pattern is reported");
      for (const call of warn.mock.calls) assert.doesNotMatch(call.arguments.join(" "), /GEHEIM|geheim|111222333/);
      warn.mock.restore();
    });
  }
});
