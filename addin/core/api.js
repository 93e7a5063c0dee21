// Client of the Veilig REST API (api/openapi.yaml) for the add-ins: OAuth 2.0
// password and refresh-token grants (RFC 6749 §4.3, §6) with rotating refresh
// tokens, bearer access tokens (RFC 6750), multipart/form-data submissions
// (RFC 7578) with an Idempotency-Key, and errors as RFC 9457 problem details.
//
// Framework-free: it needs fetch, FormData, Blob and crypto.randomUUID, which
// browsers, Office's runtimes, Thunderbird and Node 20 all have. Tokens are
// never logged or put in URLs.

const REVOKE_PATH = "/api/v1/auth/revoke";
const TOKEN_PATH = "/api/v1/auth/token";
const REFRESH_MARGIN_MS = 30_000;
const ACCEPT = "application/json, application/problem+json";

/** An API failure; status 0 means the server could not be reached. */
export class VeiligError extends Error {
  constructor({ status = 0, type = "about:blank", title = "", detail = "", fields = [], retryAfter } = {}) {
    super(detail || title || `HTTP ${status}`);
    this.name = "VeiligError";
    this.status = status;
    this.type = type;
    this.title = title;
    this.detail = detail;
    this.fields = fields;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/**
 * VeiligClient talks to one Veilig server.
 * tokens: {get() → {access, refresh, expiresAt (ms since epoch)} | null, set(t), clear()}.
 * xhrFactory: () => XMLHttpRequest, used by send() for upload progress.
 */
export class VeiligClient {
  #base;
  #fetch;
  #tokens;
  #xhrFactory;
  #now;
  #timeoutMs;
  #sendTimeoutMs;
  #refreshing = null;

  constructor({
    baseUrl, fetch = globalThis.fetch, tokens, xhrFactory = null,
    now = () => Date.now(), timeoutMs = 30_000, sendTimeoutMs = 600_000,
  } = {}) {
    if (typeof baseUrl !== "string" || baseUrl === "") throw new TypeError("VeiligClient: baseUrl is required");
    if (!tokens) throw new TypeError("VeiligClient: tokens is required");
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#fetch = (...args) => fetch(...args); // unbound browser fetch throws "Illegal invocation"
    this.#tokens = tokens;
    this.#xhrFactory = xhrFactory;
    this.#now = now;
    this.#timeoutMs = timeoutMs;
    this.#sendTimeoutMs = sendTimeoutMs;
  }

  /** login exchanges a username (e-mail address) and password for tokens. */
  async login(username, password) {
    const res = await this.#request(TOKEN_PATH, jsonInit("POST", { grant_type: "password", username, password }));
    this.#storeTokens(await expectJSON(res));
  }

  /**
   * refresh rotates the refresh token. Concurrent callers share one request:
   * a refresh token is single use and presenting a spent one revokes them all.
   * A refused refresh clears the tokens and throws a VeiligError with status 401.
   */
  refresh() {
    this.#refreshing ??= this.#doRefresh().finally(() => { this.#refreshing = null; });
    return this.#refreshing;
  }

  async #doRefresh() {
    const refresh = this.#tokens.get()?.refresh;
    if (!refresh) throw this.#signedOut("no refresh token");
    let body;
    try {
      const res = await this.#request(TOKEN_PATH, jsonInit("POST", { grant_type: "refresh_token", refresh_token: refresh }));
      body = await expectJSON(res);
    } catch (err) {
      if (err instanceof VeiligError && err.status >= 400 && err.status < 500) throw this.#signedOut(err.detail);
      throw err; // network trouble or a server fault: the refresh token may still be good
    }
    this.#storeTokens(body);
  }

  /**
   * logout revokes the refresh token at the server (RFC 7009: it and every token
   * rotated from it stop working) and forgets the tokens. The tokens are
   * forgotten even when the server cannot be reached.
   */
  async logout() {
    const refresh = this.#tokens.get()?.refresh;
    this.#tokens.clear();
    if (!refresh) return;
    try {
      await this.#request(REVOKE_PATH, jsonInit("POST", { token: refresh }));
    } catch {
      // Offline: the local sign-out stands; the refresh token expires by itself.
    }
  }

  /** resolve tells how each address would be reached: [{address, route, reason, organisation, transport}]. */
  async resolve(addresses) {
    const res = await this.#authorised(jsonRequest("POST", "/api/v1/recipients/resolve", { addresses }), this.#timeoutMs);
    return (await expectJSON(res)).recipients ?? [];
  }

  /** search is the directory autocomplete: [{kind, name, email?, organisation, domains?}]. */
  async search(q, limit = 10) {
    const query = new URLSearchParams({ q, limit: String(limit) });
    const res = await this.#authorised({ path: `/api/v1/directory/search?${query}`, method: "GET" }, this.#timeoutMs);
    return (await expectJSON(res)).results ?? [];
  }

  /**
   * detectPatterns returns the organisation's extra sensitive-data patterns,
   * [{name, pattern}], for detect(text, {patterns}). Entries that are not
   * {name: string, pattern: string} are dropped.
   */
  async detectPatterns() {
    const res = await this.#authorised({ path: "/api/v1/detect/patterns", method: "GET" }, this.#timeoutMs);
    const list = (await expectJSON(res)).patterns;
    if (!Array.isArray(list)) return [];
    return list
      .filter((p) => typeof p?.name === "string" && typeof p?.pattern === "string")
      .map(({ name, pattern }) => ({ name, pattern }));
  }

  /**
   * send submits a draft {to, cc, bcc, subject, html, text, phones, attachments}
   * where attachments are Files or {name, data: Blob|ArrayBuffer|Uint8Array, type}.
   * onProgress({loaded, total}) reports the upload (per chunk with xhrFactory,
   * else at start and end). A retry with the same idempotencyKey is safe.
   * Returns {id, recipients}.
   */
  async send(draft, { idempotencyKey = crypto.randomUUID(), onProgress } = {}) {
    const form = buildForm(draft);
    const req = { path: "/api/v1/messages", method: "POST", body: form, headers: { "Idempotency-Key": idempotencyKey }, onProgress };
    return expectJSON(await this.#authorised(req, this.#sendTimeoutMs));
  }

  // #authorised runs req with a fresh access token; on 401 it refreshes once and retries.
  async #authorised(req, timeoutMs) {
    let tokens = this.#tokens.get();
    if (!tokens?.access) throw this.#signedOut("not signed in");
    if (tokens.expiresAt - this.#now() < REFRESH_MARGIN_MS) {
      await this.refresh();
      tokens = this.#tokens.get();
    }
    const res = await this.#transport(req, tokens.access, timeoutMs);
    if (res.status !== 401) return res;
    await this.refresh();
    return this.#transport(req, this.#tokens.get().access, timeoutMs);
  }

  #transport(req, access, timeoutMs) {
    const headers = { Accept: ACCEPT, Authorization: `Bearer ${access}`, ...req.headers };
    if (req.onProgress && this.#xhrFactory) {
      return xhrRequest(this.#xhrFactory, this.#base + req.path, { ...req, headers, timeoutMs });
    }
    return this.#withProgress(req, { method: req.method, headers, body: req.body }, timeoutMs);
  }

  async #withProgress(req, init, timeoutMs) {
    const total = bodySize(req.body);
    req.onProgress?.({ loaded: 0, total });
    const res = await this.#request(req.path, init, timeoutMs, { raw: true });
    req.onProgress?.({ loaded: total, total });
    return res;
  }

  // #request does one fetch; without raw, a non-2xx answer is thrown as VeiligError.
  async #request(path, init, timeoutMs = this.#timeoutMs, { raw = false } = {}) {
    let res;
    try {
      res = await this.#fetch(this.#base + path, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new VeiligError({ status: 0, title: "network error", detail: err?.name === "TimeoutError" ? "timed out" : "unreachable" });
    }
    if (!raw && !res.ok) throw await problemFrom(res);
    return res;
  }

  #storeTokens(body) {
    if (!body?.access_token || !body?.refresh_token) {
      throw new VeiligError({ status: 502, title: "bad token response", detail: "the server sent no tokens" });
    }
    this.#tokens.set({
      access: body.access_token,
      refresh: body.refresh_token,
      expiresAt: this.#now() + Number(body.expires_in ?? 0) * 1000,
    });
  }

  #signedOut(detail) {
    this.#tokens.clear();
    return new VeiligError({ status: 401, type: "urn:veilig:problem:unauthorized", title: "Unauthorized", detail });
  }
}

function jsonRequest(method, path, value) {
  return { path, ...jsonInit(method, value) };
}

function jsonInit(method, value) {
  return { method, headers: { Accept: ACCEPT, "Content-Type": "application/json" }, body: JSON.stringify(value) };
}

/** buildForm makes the multipart body: one JSON "message" part, then "attachment" parts. */
export function buildForm(draft = {}) {
  const { attachments = [], ...fields } = draft;
  const message = {};
  for (const k of ["to", "cc", "bcc", "subject", "html", "text", "phones", "expires_in_days", "client_message_id"]) {
    if (fields[k] !== undefined) message[k] = fields[k];
  }
  const form = new FormData();
  form.append("message", new Blob([JSON.stringify(message)], { type: "application/json" }), "message.json");
  for (const a of attachments) {
    const { blob, name } = attachmentBlob(a);
    form.append("attachment", blob, name);
  }
  return form;
}

function attachmentBlob(a) {
  if (typeof File !== "undefined" && a instanceof File) return { blob: a, name: a.name };
  if (!a || typeof a.name !== "string" || a.name === "") throw new TypeError("attachment needs a name");
  const type = a.type || a.data?.type || "application/octet-stream";
  const blob = a.data instanceof Blob ? a.data : new Blob([a.data ?? new Uint8Array()], { type });
  return { blob, name: a.name };
}

function bodySize(body) {
  if (!(body instanceof FormData)) return 0;
  let n = 0;
  for (const [, v] of body) n += typeof v === "string" ? v.length : v.size;
  return n;
}

async function expectJSON(res) {
  if (!res.ok) throw await problemFrom(res);
  try {
    return await res.json();
  } catch {
    throw new VeiligError({ status: 502, title: "bad response", detail: "the server's answer is not JSON" });
  }
}

/** problemFrom turns an error response into a VeiligError (RFC 9457 fields where present). */
export async function problemFrom(res) {
  let p = {};
  const ct = res.headers.get("Content-Type") ?? "";
  if (/^application\/(problem\+)?json/i.test(ct)) {
    try { p = await res.json(); } catch { p = {}; }
  }
  const retry = Number.parseInt(res.headers.get("Retry-After") ?? "", 10);
  return new VeiligError({
    status: res.status,
    type: typeof p.type === "string" ? p.type : "about:blank",
    title: typeof p.title === "string" ? p.title : res.statusText ?? "",
    detail: typeof p.detail === "string" ? p.detail : "",
    fields: Array.isArray(p.errors) ? p.errors.map(({ field, detail }) => ({ field, detail })) : [],
    retryAfter: Number.isFinite(retry) ? retry : undefined,
  });
}

// xhrRequest sends with XMLHttpRequest (upload progress) and answers a Response.
function xhrRequest(factory, url, { method, headers, body, onProgress, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const xhr = factory();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.timeout = timeoutMs;
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : 0 });
    xhr.onload = () => resolve(new Response(xhr.status === 204 ? null : xhr.responseText, {
      status: xhr.status,
      headers: pickHeaders(xhr, ["Content-Type", "Retry-After"]),
    }));
    const fail = (detail) => () => reject(new VeiligError({ status: 0, title: "network error", detail }));
    xhr.onerror = fail("unreachable");
    xhr.ontimeout = fail("timed out");
    xhr.onabort = fail("aborted");
    xhr.send(body);
  });
}

function pickHeaders(xhr, names) {
  const h = {};
  for (const n of names) {
    const v = xhr.getResponseHeader(n);
    if (v !== null) h[n] = v;
  }
  return h;
}
