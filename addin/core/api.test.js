import { test } from "node:test";
import assert from "node:assert/strict";

import { VeiligClient, VeiligError, problemFrom } from "./api.js";

const BASE = "https://veilig.example";
const NOW = 1_800_000_000_000;

function memoryTokens(initial = null) {
  let t = initial;
  return { get: () => t, set: (v) => { t = v; }, clear: () => { t = null; } };
}

const fresh = () => ({ access: "acc-1", refresh: "ref-1", expiresAt: NOW + 600_000 });

function json(status, value, headers = {}) {
  return new Response(JSON.stringify(value), { status, headers: { "Content-Type": "application/json", ...headers } });
}

function problem(status, type, extra = {}, headers = {}) {
  return new Response(JSON.stringify({ type: `urn:veilig:problem:${type}`, title: type, status, ...extra }),
    { status, headers: { "Content-Type": "application/problem+json", ...headers } });
}

const tokenBody = (n) => ({ access_token: `acc-${n}`, token_type: "Bearer", expires_in: 900, refresh_token: `ref-${n}` });

// fakeFetch answers from a queue of handlers and records every request.
function fakeFetch(...answers) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const req = new Request(url, init);
    const call = { url, method: req.method, headers: req.headers, req, json: null };
    if ((req.headers.get("Content-Type") ?? "").startsWith("application/json")) call.json = await req.clone().json();
    calls.push(call);
    const next = answers.shift();
    if (!next) throw new Error(`unexpected request ${req.method} ${url}`);
    return typeof next === "function" ? next(call) : next;
  };
  fn.calls = calls;
  return fn;
}

function client(fetch, tokens = memoryTokens(fresh()), extra = {}) {
  return new VeiligClient({ baseUrl: `${BASE}/`, fetch, tokens, now: () => NOW, ...extra });
}

test("login stores tokens from the password grant", async () => {
  const tokens = memoryTokens();
  const f = fakeFetch(json(200, tokenBody(7)));
  await client(f, tokens).login("jan@gemeente.example", "geheim");
  assert.equal(f.calls[0].url, `${BASE}/api/v1/auth/token`);
  assert.equal(f.calls[0].method, "POST");
  assert.deepEqual(f.calls[0].json, { grant_type: "password", username: "jan@gemeente.example", password: "geheim" });
  assert.equal(f.calls[0].headers.get("Authorization"), null);
  assert.deepEqual(tokens.get(), { access: "acc-7", refresh: "ref-7", expiresAt: NOW + 900_000 });
});

test("login failure is a VeiligError from problem+json", async () => {
  const f = fakeFetch(problem(401, "invalid-credentials", { detail: "wrong password" }));
  await assert.rejects(client(f, memoryTokens()).login("jan@gemeente.example", "fout"), (err) => {
    assert.ok(err instanceof VeiligError);
    assert.equal(err.status, 401);
    assert.equal(err.type, "urn:veilig:problem:invalid-credentials");
    assert.equal(err.detail, "wrong password");
    return true;
  });
  assert.equal(f.calls.length, 1, "no refresh on a failed login");
});

test("resolve and search send the bearer token and unwrap the lists", async () => {
  const recipients = [{ address: "a@gemeente.example", route: "internal", reason: "community-domain",
    organisation: { id: "o", name: "Gemeente" }, transport: { mode: "dane", reason: "" } }];
  const results = [{ kind: "person", name: "Jan", email: "jan@gemeente.example", organisation: { id: "o", name: "G" } }];
  const f = fakeFetch(json(200, { recipients }), json(200, { results }));
  const c = client(f);
  assert.deepEqual(await c.resolve(["a@gemeente.example"]), recipients);
  assert.deepEqual(await c.search("jan de", 5), results);
  assert.equal(f.calls[0].url, `${BASE}/api/v1/recipients/resolve`);
  assert.deepEqual(f.calls[0].json, { addresses: ["a@gemeente.example"] });
  assert.equal(f.calls[1].url, `${BASE}/api/v1/directory/search?q=jan+de&limit=5`);
  assert.equal(f.calls[1].method, "GET");
  for (const call of f.calls) assert.equal(call.headers.get("Authorization"), "Bearer acc-1");
});

test("send builds the multipart body", async () => {
  const accepted = { id: "m-1", recipients: [{ address: "a@gemeente.example", route: "internal", status: "queued", reason: "" }] };
  const f = fakeFetch(json(202, accepted));
  const draft = {
    to: ["a@gemeente.example"], cc: [], bcc: ["b@burger.example"], subject: "Besluit", html: "<p>Hoi</p>", text: "Hoi",
    phones: { "b@burger.example": "+31612345678" },
    attachments: [
      new File(["%PDF-1.7"], "besluit.pdf", { type: "application/pdf" }),
      { name: "notitie.txt", data: new TextEncoder().encode("tekst"), type: "text/plain" },
    ],
    ignored: "not sent",
  };
  const got = await client(f).send(draft, { idempotencyKey: "key-123" });
  assert.deepEqual(got, accepted);
  const call = f.calls[0];
  assert.equal(call.url, `${BASE}/api/v1/messages`);
  assert.equal(call.headers.get("Idempotency-Key"), "key-123");
  assert.equal(call.headers.get("Authorization"), "Bearer acc-1");
  assert.match(call.headers.get("Content-Type"), /^multipart\/form-data; boundary=/);
  const raw = await call.req.clone().text();
  assert.match(raw, /name="message"; filename="message.json"\r\nContent-Type: application\/json\r\n/);
  const form = await call.req.formData();
  const message = form.get("message");
  assert.equal(message.type, "application/json");
  assert.deepEqual(JSON.parse(await message.text()), {
    to: ["a@gemeente.example"], cc: [], bcc: ["b@burger.example"], subject: "Besluit", html: "<p>Hoi</p>", text: "Hoi",
    phones: { "b@burger.example": "+31612345678" },
  });
  const files = form.getAll("attachment");
  assert.deepEqual(files.map((a) => [a.name, a.type]), [["besluit.pdf", "application/pdf"], ["notitie.txt", "text/plain"]]);
  assert.equal(await files[0].text(), "%PDF-1.7");
  assert.equal(await files[1].text(), "tekst");
});

test("send always sets an Idempotency-Key", async () => {
  const f = fakeFetch(json(202, { id: "m", recipients: [] }), json(202, { id: "m2", recipients: [] }));
  const c = client(f);
  await c.send({ to: ["a@gemeente.example"] });
  await c.send({ to: ["a@gemeente.example"] });
  const keys = f.calls.map((call) => call.headers.get("Idempotency-Key"));
  for (const k of keys) assert.match(k, /^[0-9a-f-]{36}$/);
  assert.notEqual(keys[0], keys[1]);
});

test("send refuses an attachment without a name", async () => {
  await assert.rejects(client(fakeFetch()).send({ attachments: [{ data: new Uint8Array(1) }] }), TypeError);
});

test("a 401 refreshes once and retries with the new token and the same key", async () => {
  const tokens = memoryTokens(fresh());
  const f = fakeFetch(problem(401, "unauthorized"), json(200, tokenBody(2)), json(202, { id: "m", recipients: [] }));
  await client(f, tokens).send({ to: ["a@gemeente.example"] }, { idempotencyKey: "k" });
  assert.deepEqual(f.calls.map((c) => c.url), [`${BASE}/api/v1/messages`, `${BASE}/api/v1/auth/token`, `${BASE}/api/v1/messages`]);
  assert.deepEqual(f.calls[1].json, { grant_type: "refresh_token", refresh_token: "ref-1" });
  assert.equal(f.calls[2].headers.get("Authorization"), "Bearer acc-2");
  assert.equal(f.calls[2].headers.get("Idempotency-Key"), "k");
  assert.equal(tokens.get().refresh, "ref-2", "the rotated refresh token is kept");
});

test("a second 401 is thrown, without a second refresh", async () => {
  const f = fakeFetch(problem(401, "unauthorized"), json(200, tokenBody(2)), problem(401, "unauthorized"));
  await assert.rejects(client(f).resolve(["a@b.example"]), (err) => err.status === 401);
  assert.equal(f.calls.length, 3);
});

test("a token about to expire is refreshed first", async () => {
  const tokens = memoryTokens({ access: "old", refresh: "ref-1", expiresAt: NOW + 29_000 });
  const f = fakeFetch(json(200, tokenBody(3)), json(200, { results: [] }));
  await client(f, tokens).search("ja");
  assert.equal(f.calls[0].url, `${BASE}/api/v1/auth/token`);
  assert.equal(f.calls[1].headers.get("Authorization"), "Bearer acc-3");
});

test("a token valid for more than 30 s is not refreshed", async () => {
  const tokens = memoryTokens({ access: "acc-1", refresh: "ref-1", expiresAt: NOW + 31_000 });
  const f = fakeFetch(json(200, { results: [] }));
  await client(f, tokens).search("ja");
  assert.equal(f.calls.length, 1);
});

test("concurrent refreshes share one request", async () => {
  const tokens = memoryTokens({ access: "old", refresh: "ref-9", expiresAt: NOW });
  const f = fakeFetch(json(200, tokenBody(5)), json(200, { results: [] }), json(200, { results: [] }));
  const c = client(f, tokens);
  await Promise.all([c.search("ja"), c.search("jo")]);
  assert.equal(f.calls.filter((call) => call.url.endsWith("/auth/token")).length, 1);
  for (const call of f.calls.slice(1)) assert.equal(call.headers.get("Authorization"), "Bearer acc-5");
});

test("a refused refresh clears the tokens and throws 401", async () => {
  const tokens = memoryTokens(fresh());
  const f = fakeFetch(problem(401, "unauthorized"), problem(400, "invalid-parameter", { detail: "refresh token spent" }));
  await assert.rejects(client(f, tokens).resolve(["a@b.example"]), (err) => {
    assert.ok(err instanceof VeiligError);
    assert.equal(err.status, 401);
    return true;
  });
  assert.equal(tokens.get(), null);
});

test("a refresh that cannot reach the server keeps the tokens", async () => {
  const tokens = memoryTokens({ access: "old", refresh: "ref-1", expiresAt: NOW });
  const f = fakeFetch(() => { throw new TypeError("fetch failed"); });
  await assert.rejects(client(f, tokens).search("ja"), (err) => err.status === 0);
  assert.equal(tokens.get().refresh, "ref-1");
});

test("without tokens calls fail with 401 and send nothing", async () => {
  const f = fakeFetch();
  await assert.rejects(client(f, memoryTokens()).search("ja"), (err) => err.status === 401);
  assert.equal(f.calls.length, 0);
});

test("logout revokes the refresh token at the server and clears the tokens", async () => {
  const tokens = memoryTokens(fresh());
  const refresh = tokens.get().refresh;
  const f = fakeFetch(new Response(JSON.stringify({ revoked: true }), { status: 200, headers: { "Content-Type": "application/json" } }));
  await client(f, tokens).logout();
  assert.equal(tokens.get(), null);
  assert.equal(f.calls.length, 1);
  assert.equal(new URL(f.calls[0].url).pathname, "/api/v1/auth/revoke");
  assert.deepEqual(f.calls[0].json, { token: refresh });
});

test("logout offline still clears the tokens", async () => {
  const tokens = memoryTokens(fresh());
  const f = fakeFetch(() => { throw new TypeError("network down"); });
  await client(f, tokens).logout();
  assert.equal(tokens.get(), null);
});

test("problem+json is parsed into VeiligError", async (t) => {
  for (const [name, res, want] of [
    ["422 with fields", problem(422, "unprocessable", { detail: "phone missing", errors: [{ field: "phones", detail: "b@x.example" }] }),
      { status: 422, type: "urn:veilig:problem:unprocessable", title: "unprocessable", detail: "phone missing", fields: [{ field: "phones", detail: "b@x.example" }] }],
    ["429 with Retry-After", problem(429, "rate-limited", {}, { "Retry-After": "30" }),
      { status: 429, type: "urn:veilig:problem:rate-limited", title: "rate-limited", detail: "", fields: [], retryAfter: 30 }],
    ["plain text 502", new Response("Bad Gateway", { status: 502, statusText: "Bad Gateway", headers: { "Content-Type": "text/plain" } }),
      { status: 502, type: "about:blank", title: "Bad Gateway", detail: "", fields: [] }],
    ["broken json", new Response("{", { status: 500, headers: { "Content-Type": "application/problem+json" } }),
      { status: 500, type: "about:blank", title: "", detail: "", fields: [] }],
  ]) {
    await t.test(name, async () => {
      const err = await problemFrom(res);
      const got = { status: err.status, type: err.type, title: err.title, detail: err.detail, fields: err.fields };
      if (err.retryAfter !== undefined) got.retryAfter = err.retryAfter;
      assert.deepEqual(got, want);
    });
  }
});

test("errors from calls carry the problem", async () => {
  const f = fakeFetch(problem(413, "payload-too-large", { detail: "too big" }));
  await assert.rejects(client(f).send({ to: ["a@b.example"] }), (err) => err.status === 413 && err.detail === "too big");
});

test("network failure is status 0", async () => {
  const f = fakeFetch(() => { throw new TypeError("fetch failed"); });
  await assert.rejects(client(f).resolve(["a@b.example"]), (err) => err instanceof VeiligError && err.status === 0);
});

test("tokens never appear in error messages", async () => {
  const f = fakeFetch(problem(401, "unauthorized"), problem(401, "unauthorized", { detail: "bad" }));
  await assert.rejects(client(f).search("ja"), (err) => !JSON.stringify({ ...err, m: err.message }).includes("acc-1")
    && !JSON.stringify({ ...err, m: err.message }).includes("ref-1"));
});

// FakeXHR records what send() does and lets the test drive the upload.
class FakeXHR {
  static last = null;
  constructor() { this.headers = {}; this.upload = {}; FakeXHR.last = this; }
  open(method, url) { this.method = method; this.url = url; }
  setRequestHeader(k, v) { this.headers[k] = v; }
  getResponseHeader(k) { return k.toLowerCase() === "content-type" ? "application/json" : null; }
  send(body) {
    this.body = body;
    this.upload.onprogress({ lengthComputable: true, loaded: 10, total: 40 });
    this.upload.onprogress({ lengthComputable: true, loaded: 40, total: 40 });
    this.status = 202;
    this.responseText = JSON.stringify({ id: "m-x", recipients: [] });
    this.onload();
  }
}

test("send reports upload progress through the XHR factory", async () => {
  const progress = [];
  const c = client(fakeFetch(), memoryTokens(fresh()), { xhrFactory: () => new FakeXHR() });
  const got = await c.send({ to: ["a@gemeente.example"] }, { idempotencyKey: "k-x", onProgress: (p) => progress.push(p) });
  assert.deepEqual(got, { id: "m-x", recipients: [] });
  assert.deepEqual(progress, [{ loaded: 10, total: 40 }, { loaded: 40, total: 40 }]);
  const x = FakeXHR.last;
  assert.equal(x.method, "POST");
  assert.equal(x.url, `${BASE}/api/v1/messages`);
  assert.equal(x.headers.Authorization, "Bearer acc-1");
  assert.equal(x.headers["Idempotency-Key"], "k-x");
  assert.ok(x.body instanceof FormData);
  assert.deepEqual(JSON.parse(await x.body.get("message").text()), { to: ["a@gemeente.example"] });
});

test("send over fetch reports progress at start and end", async () => {
  const progress = [];
  const f = fakeFetch(json(202, { id: "m", recipients: [] }));
  await client(f).send({ to: ["a@b.example"], attachments: [{ name: "a.bin", data: new Uint8Array(100) }] },
    { onProgress: (p) => progress.push(p) });
  assert.equal(progress.length, 2);
  assert.equal(progress[0].loaded, 0);
  assert.ok(progress[1].total >= 100);
  assert.equal(progress[1].loaded, progress[1].total);
});

test("the constructor needs a base URL and a token store", () => {
  assert.throws(() => new VeiligClient({ tokens: memoryTokens() }), TypeError);
  assert.throws(() => new VeiligClient({ baseUrl: BASE }), TypeError);
});

test("detectPatterns fetches the organisation's patterns with the bearer token", async (t) => {
  const good = [{ name: "zaaknummer", pattern: "Z-[0-9]{6}" }];
  const cases = [
    { name: "list", body: { patterns: good }, want: good },
    { name: "empty", body: { patterns: [] }, want: [] },
    { name: "malformed entries dropped", body: { patterns: [...good, { name: 1, pattern: "x" }, null, { name: "n" }] }, want: good },
    { name: "no list", body: {}, want: [] },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const f = fakeFetch(json(200, c.body));
      assert.deepEqual(await client(f).detectPatterns(), c.want);
      assert.equal(f.calls[0].url, `${BASE}/api/v1/detect/patterns`);
      assert.equal(f.calls[0].method, "GET");
      assert.equal(f.calls[0].headers.get("Authorization"), "Bearer acc-1");
    });
  }
});

test("detectPatterns refreshes once on 401 and passes other errors on", async () => {
  const good = [{ name: "zaaknummer", pattern: "Z-[0-9]{6}" }];
  const f = fakeFetch(problem(401, "unauthorized"), json(200, tokenBody(2)), json(200, { patterns: good }));
  assert.deepEqual(await client(f).detectPatterns(), good);
  assert.equal(f.calls[2].headers.get("Authorization"), "Bearer acc-2");
  await assert.rejects(client(fakeFetch(problem(503, "unavailable"))).detectPatterns(), { status: 503 });
});
