// Tests for the Outlook task pane logic against office-addin-mock (host
// "outlook") and a real VeiligClient talking to a fake fetch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OfficeMockObject } from "office-addin-mock";
import { VeiligClient } from "../core/api.js";
import {
  acceptLogin,
  baseUrlFrom,
  checkPhones,
  describeError,
  DraftError,
  idempotencyKey,
  loadRecipients,
  phoneMemory,
  routeLabels,
  sendDraft,
  SESSION_KEY,
  tokenStore,
  validateForSend,
  LOGIN_MESSAGE,
} from "./taskpane.js";

const BASE = "https://veilig.example";
const PDF_BYTES = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d, 0x00, 0xff, 0x10]);
const PDF_B64 = Buffer.from(PDF_BYTES).toString("base64");

const RESOLUTIONS = {
  "anna@gemeente.example": { route: "internal", reason: "community-domain", organisation: { id: "o1", name: "Gemeente" }, transport: { mode: "dane", reason: "TLSA" } },
  "bob@burger.example": { route: "external", reason: "not-in-community" },
  "kees@ministerie.example": { route: "internal", reason: "community-domain", transport: { mode: "mta-sts", reason: "policy" } },
  "fout@": { route: "invalid", reason: "syntax" },
};

function ok(value) {
  return { status: "succeeded", value };
}

function recipients(list) {
  return { getAsync: (cb) => cb(ok(list.map((a) => ({ emailAddress: a, displayName: a.split("@")[0] })))) };
}

// mockOffice builds Office with a compose item; calls records side effects.
function mockOffice({ to = [], cc = [], bcc = [], sets = ["1.1", "1.8", "1.11", "1.14"], session = {} } = {}) {
  const calls = { closeAsync: [] };
  const office = new OfficeMockObject({
    host: "outlook",
    CoercionType: { Html: "html", Text: "text" },
    context: {
      displayLanguage: "nl-NL",
      requirements: { isSetSupported: (name, v) => name === "Mailbox" && sets.includes(v) },
      mailbox: {
        item: {
          to: recipients(to),
          cc: recipients(cc),
          bcc: recipients(bcc),
          subject: { getAsync: (cb) => cb(ok("Besluit op uw aanvraag")) },
          body: { getAsync: (coercion, cb) => cb(ok(coercion === "html" ? "<p>Zie bijlage.</p>" : "Zie bijlage.")) },
          getAttachmentsAsync: (cb) =>
            cb(ok([{ id: "att-1", name: "besluit.pdf", contentType: "application/pdf", size: PDF_BYTES.length, attachmentType: "file", isInline: false }])),
          getAttachmentContentAsync: (id, cb) =>
            cb(id === "att-1" ? ok({ format: "base64", content: PDF_B64 }) : { status: "failed", error: { message: "no such attachment" } }),
          getItemIdAsync: (cb) => cb(ok("AAMkAGI2THVSAAA=")),
          sessionData: {
            getAsync: (name, cb) => (name in session ? cb(ok(session[name])) : cb({ status: "failed", error: { code: 9202 } })),
            setAsync: (name, value, cb) => {
              session[name] = value;
              cb(ok(undefined));
            },
          },
          closeAsync: (options, cb) => {
            calls.closeAsync.push(options);
            cb(ok(undefined));
          },
        },
      },
    },
  });
  return { office, calls, session };
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

// fakeServer answers resolve and send like the Veilig API and records requests.
function fakeServer() {
  const requests = [];
  const fetch = async (input, init = {}) => {
    const req = new Request(input, init);
    requests.push(req.clone());
    const path = new URL(req.url).pathname;
    if (path === "/api/v1/recipients/resolve") {
      const { addresses } = await req.json();
      const out = addresses.map((address) => ({ address, organisation: null, ...(RESOLUTIONS[address] ?? { route: "external", reason: "unknown" }) }));
      return Response.json({ recipients: out });
    }
    if (path === "/api/v1/messages") {
      return Response.json({ id: "msg-1", recipients: [] }, { status: 202 });
    }
    return Response.json({ type: "about:blank", title: "Not Found", status: 404 }, { status: 404, headers: { "Content-Type": "application/problem+json" } });
  };
  return { fetch, requests };
}

function client(fetch) {
  const tokens = tokenStore(memoryStorage());
  tokens.set({ access: "access-1", refresh: "refresh-1", expiresAt: Date.now() + 3600_000 });
  return new VeiligClient({ baseUrl: BASE, fetch, tokens });
}

test("recipients are listed with their routes from resolve", async () => {
  const { office } = mockOffice({ to: ["anna@gemeente.example", "bob@burger.example"], cc: ["fout@"], bcc: ["kees@ministerie.example", "Anna@gemeente.example"] });
  const server = fakeServer();
  const { rows } = await loadRecipients(office.context.mailbox.item, client(server.fetch));
  const got = rows.map((r) => [r.field, r.address, r.route, routeLabels(r).join(" ")]);
  assert.deepEqual(got, [
    ["to", "anna@gemeente.example", "internal", "route.internal transport.dane"],
    ["to", "bob@burger.example", "external", "route.external"],
    ["cc", "fout@", "invalid", "route.invalid"],
    ["bcc", "kees@ministerie.example", "internal", "route.internal transport.mta-sts"],
    ["bcc", "Anna@gemeente.example", "internal", "route.internal transport.dane"],
  ]);
  assert.equal(rows[0].organisation.name, "Gemeente");
  assert.equal(server.requests.length, 1, "one resolve call for all distinct addresses");
  const sent = await server.requests[0].json();
  assert.deepEqual(sent.addresses.sort(), ["anna@gemeente.example", "bob@burger.example", "fout@", "kees@ministerie.example"]);
});

test("a draft without recipients resolves nothing", async () => {
  const { office } = mockOffice();
  const server = fakeServer();
  const { rows } = await loadRecipients(office.context.mailbox.item, client(server.fetch));
  assert.deepEqual(rows, []);
  assert.equal(server.requests.length, 0);
});

test("external recipients need a valid mobile number", () => {
  const rows = [
    { field: "to", address: "anna@gemeente.example", route: "internal" },
    { field: "to", address: "bob@burger.example", route: "external" },
    { field: "cc", address: "carla@burger.example", route: "external" },
    { field: "bcc", address: "dirk@burger.example", route: "external" },
  ];
  const cases = [
    { name: "all missing", entered: {}, errors: { "bob@burger.example": "phone.required", "carla@burger.example": "phone.required", "dirk@burger.example": "phone.required" }, phones: {} },
    {
      name: "one invalid, one blank",
      entered: { "bob@burger.example": "06 1234 5678", "carla@burger.example": "12", "dirk@burger.example": "  " },
      errors: { "carla@burger.example": "phone.invalid", "dirk@burger.example": "phone.required" },
      phones: { "bob@burger.example": "+31612345678" },
    },
    {
      name: "all valid",
      entered: { "bob@burger.example": "0612345678", "carla@burger.example": "+31 6 12345679", "dirk@burger.example": "+32470123456" },
      errors: {},
      phones: { "bob@burger.example": "+31612345678", "carla@burger.example": "+31612345679", "dirk@burger.example": "+32470123456" },
    },
  ];
  for (const c of cases) {
    const got = checkPhones(rows, c.entered);
    assert.deepEqual(got.errors, c.errors, c.name);
    assert.deepEqual(got.phones, c.phones, c.name);
  }
});

test("nothing is sent while a recipient is invalid or lacks a phone", () => {
  const internal = { field: "to", address: "anna@gemeente.example", route: "internal" };
  const external = { field: "cc", address: "bob@burger.example", route: "external" };
  const invalid = { field: "bcc", address: "fout@", route: "invalid" };
  const cases = [
    { name: "no recipients", rows: [], entered: {}, problem: "error.noRecipients" },
    { name: "invalid address", rows: [internal, invalid], entered: {}, problem: "error.invalidRecipient" },
    { name: "external without phone", rows: [internal, external], entered: {}, problem: "phone.fix" },
    { name: "external with phone", rows: [internal, external], entered: { "bob@burger.example": "0612345678" }, problem: null },
    { name: "internal only", rows: [internal], entered: {}, problem: null },
  ];
  for (const c of cases) assert.equal(validateForSend(c.rows, c.entered).problem, c.problem, c.name);
});

test("phone numbers are remembered per address", () => {
  const memory = phoneMemory(memoryStorage());
  memory.set("Bob@Burger.example", "+31612345678");
  assert.equal(memory.get("bob@burger.example"), "+31612345678");
  assert.equal(memory.get("other@burger.example"), "");
});

async function partText(v) {
  return typeof v === "string" ? v : v.text();
}

test("send posts the message and the attachment, then discards the draft", async () => {
  const { office, calls, session } = mockOffice({ to: ["anna@gemeente.example"], cc: ["bob@burger.example"] });
  const server = fakeServer();
  const c = client(server.fetch);
  const item = office.context.mailbox.item;
  const { rows, fields } = await loadRecipients(item, c);
  const progress = [];
  const out = await sendDraft({
    office,
    client: c,
    rows,
    fields,
    phones: { "bob@burger.example": "+31612345678" },
    fallbackKey: "fallback",
    report: (key) => progress.push(key),
  });

  assert.equal(out.closed, true);
  assert.deepEqual(calls.closeAsync, [{ discardItem: true }]);
  assert.equal(progress[0], "progress.reading");
  assert.ok(progress.includes("progress.sending"));
  assert.equal(progress.at(-1), "progress.sent");

  const post = server.requests.find((r) => new URL(r.url).pathname === "/api/v1/messages");
  assert.equal(post.method, "POST");
  assert.equal(post.headers.get("Idempotency-Key"), session[SESSION_KEY]);
  assert.match(post.headers.get("Authorization") ?? "", /^Bearer access-1$/);
  const form = await post.formData();
  const message = JSON.parse(await partText(form.get("message")));
  assert.deepEqual(message.to, ["anna@gemeente.example"]);
  assert.deepEqual(message.cc, ["bob@burger.example"]);
  assert.deepEqual(message.bcc, []);
  assert.equal(message.subject, "Besluit op uw aanvraag");
  assert.equal(message.html, "<p>Zie bijlage.</p>");
  assert.deepEqual(message.phones, { "bob@burger.example": "+31612345678" });
  const files = form.getAll("attachment");
  assert.equal(files.length, 1);
  assert.equal(files[0].name, "besluit.pdf");
  assert.deepEqual(new Uint8Array(await files[0].arrayBuffer()), PDF_BYTES);
});

test("without Mailbox 1.14 the draft stays and the user is told to discard it", async () => {
  const { office, calls } = mockOffice({ to: ["anna@gemeente.example"], sets: ["1.1", "1.8", "1.11"] });
  const server = fakeServer();
  const c = client(server.fetch);
  const { rows, fields } = await loadRecipients(office.context.mailbox.item, c);
  const progress = [];
  const out = await sendDraft({ office, client: c, rows, fields, phones: {}, fallbackKey: "f", report: (k) => progress.push(k) });
  assert.equal(out.closed, false);
  assert.deepEqual(calls.closeAsync, []);
  assert.equal(progress.at(-1), "progress.sentDiscard");
});

test("the idempotency key is stable per draft", async () => {
  const { office, session } = mockOffice();
  const item = office.context.mailbox.item;
  const first = await idempotencyKey(item, "fallback");
  assert.match(first, /^outlook-[0-9a-f-]{36}$/);
  assert.equal(await idempotencyKey(item, "fallback"), first);
  assert.equal(session[SESSION_KEY], first);

  const noSession = { getItemIdAsync: item.getItemIdAsync };
  const fromId = await idempotencyKey(noSession, "fallback");
  assert.match(fromId, /^outlook-item-[0-9a-f]{64}$/);
  assert.equal(await idempotencyKey(noSession, "fallback"), fromId);
  assert.equal(await idempotencyKey({}, "fallback"), "fallback");
});

test("a cloud attachment is refused in plain words", async () => {
  const { office } = mockOffice({ to: ["anna@gemeente.example"] });
  const item = office.context.mailbox.item;
  item.getAttachmentsAsync = (cb) => cb(ok([{ id: "c1", name: "plan.docx", attachmentType: "cloud" }]));
  item.getAttachmentContentAsync = (id, cb) => cb(ok({ format: "url", content: "https://share.example/plan.docx" }));
  const server = fakeServer();
  const c = client(server.fetch);
  const { rows, fields } = await loadRecipients(item, c);
  await assert.rejects(
    sendDraft({ office, client: c, rows, fields, phones: {}, fallbackKey: "f", report: () => {} }),
    (err) => err instanceof DraftError && err.key === "error.attachments.cloud",
  );
  assert.equal(server.requests.filter((r) => new URL(r.url).pathname === "/api/v1/messages").length, 0);
});

test("errors are described in plain words", () => {
  const cases = [
    { err: new DraftError("error.noRecipients"), nl: true },
    { err: { status: 401, title: "Unauthorized" }, nl: true },
    { err: { status: 422, title: "Invalid", detail: "phone missing" }, nl: true },
    { err: new TypeError("fetch failed"), nl: true },
  ];
  for (const c of cases) {
    const text = describeError("nl", c.err);
    assert.equal(typeof text, "string");
    assert.ok(text.length > 0 && !/^error\./.test(text), `untranslated: ${text}`);
  }
});

test("the sign-in result is accepted only from the add-in origin", () => {
  const store = memoryStorage();
  const pane = { tokens: tokenStore(store), win: { location: { origin: BASE } } };
  const msg = JSON.stringify({ type: LOGIN_MESSAGE, tokens: { access: "a", refresh: "r", expiresAt: 1 } });
  assert.equal(acceptLogin(pane, { origin: "https://evil.example", message: msg }), false);
  assert.equal(pane.tokens.get(), null);
  assert.equal(acceptLogin(pane, { origin: BASE, message: "not json" }), false);
  assert.equal(acceptLogin(pane, { origin: BASE, message: msg }), true);
  assert.deepEqual(pane.tokens.get(), { access: "a", refresh: "r", expiresAt: 1 });
  pane.tokens.clear();
  assert.equal(pane.tokens.get(), null);
});

test("the API base URL is PUBLIC_URL", () => {
  assert.equal(baseUrlFrom("https://veilig.example/addin/outlook/taskpane.html"), "https://veilig.example");
  assert.equal(baseUrlFrom("https://host.example/veilig/addin/outlook/login.html?x=1"), "https://host.example/veilig");
});

// ---- detect patterns cache and moved texts ----
import { patternCache, t as paneT, updatePatterns } from "./taskpane.js";
import { MESSAGES } from "../core/i18n.js";
import { PATTERNS_KEY, PATTERNS_MAX_AGE_MS } from "../core/patterns.js";

function seededStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k) };
}

test("the pane caches the organisation's patterns in localStorage, at most hourly", async (t) => {
  const zaak = { name: "zaaknummer", pattern: "Z-[0-9]{6}" };
  const NOW = 10 * PATTERNS_MAX_AGE_MS;
  const cases = [
    { name: "empty cache: fetched", stored: null, fetches: 1 },
    { name: "fresh cache: not fetched", stored: { fetchedAt: NOW - 60_000, patterns: [] }, fetches: 0 },
    { name: "stale cache: fetched", stored: { fetchedAt: NOW - PATTERNS_MAX_AGE_MS, patterns: [] }, fetches: 1 },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const storage = seededStorage(c.stored ? { [PATTERNS_KEY]: JSON.stringify(c.stored) } : {});
      const answers = [];
      const fetch = async (url, init) => {
        answers.push(new Request(url, init));
        return new Response(JSON.stringify({ patterns: [zaak] }), { headers: { "Content-Type": "application/json" } });
      };
      const tokens = tokenStore(seededStorage({ "veilig.outlook.tokens": JSON.stringify({ access: "acc", refresh: "ref", expiresAt: NOW + 600_000 }) }));
      const client = new VeiligClient({ baseUrl: BASE, fetch, tokens, now: () => NOW });
      await updatePatterns(client, patternCache(storage), { now: NOW });
      assert.equal(answers.length, c.fetches);
      if (c.fetches) {
        assert.equal(answers[0].url, `${BASE}/api/v1/detect/patterns`);
        assert.deepEqual(JSON.parse(storage.getItem(PATTERNS_KEY)), { fetchedAt: NOW, patterns: [zaak] });
      }
    });
  }
});

test("a failed pattern fetch keeps the cache and does not reject", async () => {
  const stored = JSON.stringify({ fetchedAt: 0, patterns: [{ name: "a", pattern: "b" }] });
  const storage = seededStorage({ [PATTERNS_KEY]: stored });
  const client = { detectPatterns: async () => { throw new Error("offline"); } };
  assert.deepEqual(await updatePatterns(client, patternCache(storage)), [{ name: "a", pattern: "b" }]);
  assert.equal(storage.getItem(PATTERNS_KEY), stored);
  patternCache(storage).clear();
  assert.equal(storage.getItem(PATTERNS_KEY), null);
});

test("a new sign-in drops the cached patterns", () => {
  const storage = seededStorage({ [PATTERNS_KEY]: "{}" });
  const pane = { win: { location: { origin: BASE } }, tokens: tokenStore(seededStorage()), patterns: patternCache(storage) };
  const message = JSON.stringify({ type: LOGIN_MESSAGE, tokens: { access: "a", refresh: "r", expiresAt: 1 } });
  assert.equal(acceptLogin(pane, { origin: BASE, message }), true);
  assert.equal(storage.getItem(PATTERNS_KEY), null);
});

test("the pane's texts come from core/i18n.js in both languages", async (t) => {
  const cases = [
    ["nl", "pane.refresh", [], MESSAGES.nl["pane.refresh"]],
    ["en", "pane.refresh", [], "Check recipients again"],
    ["en", "error.attachments.cloud", ["a.pdf"], "The attachment a.pdf is a link to a file in the cloud. Attach the file itself and try again."],
    ["nl", "pane.send", [], "Veilig verzenden"],
    ["en", "login.submit", [], "Sign in"],
  ];
  for (const [lang, key, args, want] of cases) {
    await t.test(`${lang} ${key}`, () => assert.equal(paneT(lang, key, ...args), want));
  }
});
