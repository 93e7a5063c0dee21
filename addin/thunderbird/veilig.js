// Veilig for Thunderbird: the logic behind the background event page, the
// compose_action popup and the options page (Thunderbird MailExtension API,
// Manifest V3, Thunderbird >= 128: compose, addressBooks.provider, storage,
// notifications). Every browser and core dependency is injected, so the unit
// tests run it with a fake `messenger` object under `node --test`.

// Storage keys (storage.local unless noted).
export const KEYS = Object.freeze({
  server: "serverUrl",
  patterns: "veilig.patterns", // {fetchedAt, patterns}: core/patterns.js PATTERNS_KEY
  tokens: "tokens",
  phones: "phones", // {address: E.164}
  defaultSecure: "defaultSecure",
  secure: "secure:", // + tabId, in storage.session: "on" | "off"
  idem: "idem:", // + tabId, in storage.session: idempotency key of the draft
});

// Limits.
export const SEARCH_MIN = 2;
export const SEARCH_LIMIT = 10;
export const SEARCH_DEBOUNCE_MS = 200;
const MAX_ATTACHMENT_BYTES = 50 << 20;

// Errors the extension raises itself (user-facing text comes from _locales).
export class VeiligTBError extends Error {
  constructor(code, detail = "") {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
    this.detail = detail;
  }
}

// address extracts the bare address from "Name <a@b>" or "a@b".
export function address(recipient) {
  if (typeof recipient !== "string") return "";
  const m = /<([^<>]+)>\s*$/.exec(recipient);
  return (m ? m[1] : recipient).trim().toLowerCase();
}

// addresses lists the bare, unique addresses of a compose field.
export function addresses(field) {
  const list = Array.isArray(field) ? field : field ? [field] : [];
  return [...new Set(list.map(address).filter(Boolean))];
}

// htmlText turns an HTML body into text for the detector (no DOM needed).
export function htmlText(html) {
  return String(html || "")
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&");
}

// origin returns the https/http origin of a server URL, or "" when invalid.
export function origin(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.origin : "";
  } catch {
    return "";
  }
}

// createTokenStore keeps the tokens in memory for the synchronous get() of
// the core client and mirrors them into storage.local.
export function createTokenStore(storage, initial = null) {
  let current = initial;
  return {
    get: () => current,
    set(t) {
      current = t;
      return storage.set({ [KEYS.tokens]: t });
    },
    clear() {
      current = null;
      return storage.remove(KEYS.tokens);
    },
  };
}

// createVeilig wires the logic. deps: {messenger, core: {VeiligClient, detect,
// normalisePhone, needsPhone, patterns (core/patterns.js)}, fetch, sleep, uuid, now}.
export function createVeilig({ messenger, core, fetch = globalThis.fetch, sleep, uuid, now = () => Date.now() }) {
  const m = messenger;
  const wait = sleep || ((ms) => new Promise((r) => setTimeout(r, ms)));
  const newKey = uuid || (() => globalThis.crypto.randomUUID());
  const session = m.storage.session || m.storage.local;
  const notified = new Map(); // notification id → compose tab id
  let searchSeq = 0;
  let cached = null; // {url, client}

  const local = async (key, fallback) => (await m.storage.local.get(key))[key] ?? fallback;

  async function serverUrl() {
    const own = await local(KEYS.server, "");
    if (own) return own;
    try {
      const managed = await m.storage.managed.get(KEYS.server);
      return managed[KEYS.server] || "";
    } catch {
      return ""; // no policy for this extension
    }
  }

  async function client() {
    const url = await serverUrl();
    if (!origin(url)) throw new VeiligTBError("noServer");
    if (cached && cached.url === url) return cached.client;
    const tokens = createTokenStore(m.storage.local, await local(KEYS.tokens, null));
    cached = { url, client: new core.VeiligClient({ baseUrl: url.replace(/\/+$/, ""), fetch, tokens }) };
    return cached.client;
  }

  async function signedIn() {
    return Boolean(await local(KEYS.tokens, null));
  }

  async function login(username, password) {
    const c = await client();
    await c.login(username, password);
    await m.storage.local.remove(KEYS.patterns); // this sign-in's organisation decides
    await updatePatterns();
  }

  // updatePatterns fetches the organisation's detect patterns into
  // storage.local when signed in and the cached ones are missing or over an
  // hour old. It never rejects: the cache simply stays as it is.
  async function updatePatterns() {
    try {
      if (!(await signedIn())) return [];
      return await core.patterns.refreshPatterns({
        client: await client(),
        load: () => local(KEYS.patterns, null),
        save: (entry) => m.storage.local.set({ [KEYS.patterns]: entry }),
        now: now(),
      });
    } catch {
      return [];
    }
  }

  async function cachedPatterns() {
    return core.patterns.cachedPatterns(await local(KEYS.patterns, null));
  }

  async function logout() {
    try {
      await (await client()).logout();
    } finally {
      await m.storage.local.remove([KEYS.tokens, KEYS.patterns]);
      cached = null;
    }
  }

  async function saveServer(url) {
    if (!origin(url)) throw new VeiligTBError("badServer");
    await m.storage.local.set({ [KEYS.server]: url });
    await m.storage.local.remove(KEYS.patterns);
    cached = null;
  }

  async function secure(tabId) {
    const v = (await session.get(KEYS.secure + tabId))[KEYS.secure + tabId];
    if (v === "on" || v === "off") return v === "on";
    return Boolean(await local(KEYS.defaultSecure, false));
  }

  async function setSecure(tabId, on) {
    await session.set({ [KEYS.secure + tabId]: on ? "on" : "off" });
  }

  async function phones() {
    return { ...(await local(KEYS.phones, {})) };
  }

  // setPhone remembers a phone number for an address; it returns the E.164
  // form, or throws badPhone.
  async function setPhone(addr, raw) {
    const all = await phones();
    const key = address(addr);
    if (!String(raw || "").trim()) {
      delete all[key];
      await m.storage.local.set({ [KEYS.phones]: all });
      return "";
    }
    const e164 = core.normalisePhone(raw);
    if (!e164) throw new VeiligTBError("badPhone", key);
    all[key] = e164;
    await m.storage.local.set({ [KEYS.phones]: all });
    return e164;
  }

  function draftAddresses(d) {
    return [...new Set([...addresses(d.to), ...addresses(d.cc), ...addresses(d.bcc)])];
  }

  // state is what the popup shows for a compose tab.
  async function state(tabId) {
    const d = await m.compose.getComposeDetails(tabId);
    const all = draftAddresses(d);
    const known = await phones();
    const base = { tabId, secure: await secure(tabId), signedIn: await signedIn(), subject: d.subject || "" };
    if (!base.signedIn || all.length === 0) {
      return { ...base, recipients: all.map((a) => ({ address: a, route: "", phone: known[a] || "" })) };
    }
    const resolved = await (await client()).resolve(all);
    const recipients = resolved.map((r) => ({
      ...r, needsPhone: core.needsPhone(r), phone: known[address(r.address)] || "",
    }));
    return { ...base, recipients };
  }

  async function attachments(tabId) {
    const list = await m.compose.listAttachments(tabId);
    const files = [];
    let total = 0;
    for (const a of list) {
      const f = await m.compose.getAttachmentFile(a.id);
      total += f.size;
      if (total > MAX_ATTACHMENT_BYTES) throw new VeiligTBError("tooLarge");
      files.push(f.name ? f : new File([f], a.name || "bijlage"));
    }
    return files;
  }

  async function idempotencyKey(tabId) {
    const k = KEYS.idem + tabId;
    const have = (await session.get(k))[k];
    if (have) return have;
    const key = newKey();
    await session.set({ [k]: key });
    return key;
  }

  // draft reads the compose tab into the core's send draft.
  async function draft(tabId) {
    const d = await m.compose.getComposeDetails(tabId);
    const all = draftAddresses(d);
    const known = await phones();
    const ph = {};
    for (const a of all) if (known[a]) ph[a] = known[a];
    const out = {
      to: addresses(d.to), cc: addresses(d.cc), bcc: addresses(d.bcc),
      subject: d.subject || "", text: d.plainTextBody || htmlText(d.body), phones: ph,
      attachments: await attachments(tabId),
    };
    if (!d.isPlainText && d.body) out.html = d.body;
    if (all.length === 0) throw new VeiligTBError("noRecipients");
    return out;
  }

  // sendTab is what the popup's Send button runs: it sends the draft of the
  // compose tab through Veilig and closes the tab on success.
  async function sendTab(tabId, { onProgress } = {}) {
    const c = await client();
    const d = await draft(tabId);
    const result = await c.send(d, { idempotencyKey: await idempotencyKey(tabId), onProgress });
    await session.remove([KEYS.secure + tabId, KEYS.idem + tabId]);
    await m.tabs.remove(tabId);
    return result;
  }

  function msg(key, ...subs) {
    return m.i18n.getMessage(key, subs) || key;
  }

  async function notify(tabId, key, ...subs) {
    const id = await m.notifications.create({
      type: "basic", title: msg("extName"), message: msg(key, ...subs), iconUrl: "icons/veilig-64.png",
    });
    notified.set(id, tabId);
    return id;
  }

  async function openPopup(tabId) {
    try {
      const tab = await m.tabs.get(tabId);
      await m.composeAction.openPopup({ windowId: tab.windowId });
      return true;
    } catch {
      return false; // not supported, or no user gesture
    }
  }

  // onBeforeSend stops the normal send when the tab is in secure mode or the
  // body holds a BSN, an IBAN or a match of the organisation's patterns (from
  // the cache; a stale cache is refreshed afterwards, without holding the send).
  async function onBeforeSend(tab, details) {
    if (await secure(tab.id)) {
      await notify(tab.id, "blockedSecure");
      await openPopup(tab.id);
      return { cancel: true };
    }
    const text = [details.subject, details.plainTextBody || htmlText(details.body)].join("\n");
    const hits = core.detect(text, { patterns: await cachedPatterns() });
    updatePatterns(); // never rejects; at most one fetch an hour
    if (hits.length === 0) return {};
    const kinds = [...new Set(hits.map((h) => h.kind.toUpperCase()))].join(", ");
    await notify(tab.id, "blockedSensitive", kinds);
    return { cancel: true };
  }

  // onNotificationClicked turns secure mode on for the tab the notification
  // was about and opens the popup.
  async function onNotificationClicked(id) {
    const tabId = notified.get(id);
    if (tabId === undefined) return;
    notified.delete(id);
    await setSecure(tabId, true);
    await openPopup(tabId);
  }

  // onSearchRequest is the community address book: debounced, at least
  // SEARCH_MIN characters, never a complete result.
  async function onSearchRequest(node, searchString) {
    const none = { isCompleteResult: false, results: [] };
    const q = String(searchString || "").trim();
    if ([...q].length < SEARCH_MIN || !(await signedIn())) return none;
    const seq = ++searchSeq;
    await wait(SEARCH_DEBOUNCE_MS);
    if (seq !== searchSeq) return none; // superseded by a later keystroke
    try {
      const res = await (await client()).search(q, SEARCH_LIMIT);
      const list = Array.isArray(res) ? res : res?.results || [];
      const results = list.filter((r) => r.email).map((r) => ({
        DisplayName: r.name, PrimaryEmail: r.email, Company: r.organisation?.name || "",
      }));
      return { isCompleteResult: false, results };
    } catch {
      return none; // the To field must keep working when the server does not
    }
  }

  // onMessage answers the popup and options page.
  async function onMessage(req) {
    const handlers = {
      state: () => state(req.tabId),
      setSecure: () => setSecure(req.tabId, req.on),
      setPhone: () => setPhone(req.address, req.phone),
      send: () => sendTab(req.tabId),
      login: () => login(req.username, req.password),
      logout: () => logout(),
      saveServer: () => saveServer(req.url),
      settings: async () => ({
        serverUrl: await serverUrl(), signedIn: await signedIn(),
        defaultSecure: Boolean(await local(KEYS.defaultSecure, false)),
      }),
      setDefault: () => m.storage.local.set({ [KEYS.defaultSecure]: Boolean(req.on) }),
    };
    const h = handlers[req?.cmd];
    if (!h) return { ok: false, error: { code: "unknownCommand" } };
    try {
      return { ok: true, value: await h() };
    } catch (err) {
      return { ok: false, error: describe(err) };
    }
  }

  return {
    serverUrl, client, login, logout, saveServer, updatePatterns, secure, setSecure, phones, setPhone, state, draft,
    sendTab, onBeforeSend, onNotificationClicked, onSearchRequest, onMessage,
  };
}

// describe turns an error into plain data for the popup (no stack, no tokens).
export function describe(err) {
  if (err instanceof VeiligTBError) return { code: err.code, detail: err.detail };
  if (err && typeof err.status === "number" && err.status > 0) {
    return { code: "server", status: err.status, title: err.title || "", detail: err.detail || "", fields: err.fields || [] };
  }
  return { code: "network", detail: String(err?.message || err) };
}
