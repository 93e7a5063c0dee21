// Veilig Outlook task pane: lists the draft's recipients with their Veilig route,
// asks a mobile number for each external recipient and sends the draft through
// the Veilig API instead of Outlook's own SMTP path.
//
// Office.js requirement sets (Outlook compose): Mailbox 1.1 (to/cc/bcc/subject),
// 1.3 (body.getAsync Html), 1.7 (RecipientsChanged), 1.8 (getAttachmentsAsync,
// getAttachmentContentAsync, getItemIdAsync), 1.11 (sessionData),
// 1.14 (closeAsync({discardItem:true})); DialogApi 1.1 (sign-in dialog).
//
// The module has no side effects when imported outside Office (node --test): the
// DOM wiring runs only from boot(), which Office.onReady calls in the task pane.

import { VeiligClient } from "../core/api.js";
import { normalisePhone, needsPhone } from "../core/recipients.js";
import { errorKey, pickLanguage, routeKey, t as coreT, transportKey } from "../core/i18n.js";
import { PATTERNS_KEY, parseEntry, refreshPatterns } from "../core/patterns.js";

export const TOKEN_KEY = "veilig.outlook.tokens";
export const PHONE_KEY_PREFIX = "veilig.outlook.phone:";
export const SESSION_KEY = "veiligIdempotencyKey";
export const LOGIN_MESSAGE = "veilig-login";
const MAX_ATTACHMENTS = 100; // the API refuses more attachment parts
const FIELDS = ["to", "cc", "bcc"];

// Keys the pane uses that core/i18n.js names differently.
const ALIASES = Object.freeze({
  "pane.send": "action.sendSecurely",
  "pane.signin.button": "action.login",
  "pane.signin.heading": "action.login",
  "pane.signout": "action.logout",
  "login.submit": "action.login",
  "login.failed": "error.401",
  "progress.resolving": "status.checking",
  "progress.sending": "status.sending",
  "progress.sent": "status.sent",
});

// t returns the text for key from core/i18n.js, following ALIASES.
export function t(lang, key, ...args) {
  return coreT(lang, ALIASES[key] ?? key, ...args);
}

// OfficeError is a failed Office.js asynchronous call.
export class OfficeError extends Error {
  constructor(method, error) {
    super(`office: ${method}: ${error?.message ?? "failed"}`);
    this.name = "OfficeError";
    this.code = error?.code;
  }
}

// officeCall turns a callback-style Office.js method into a promise of its value.
export function officeCall(target, method, ...args) {
  return new Promise((resolve, reject) => {
    target[method](...args, (result) => {
      if (result && result.status === "succeeded") {
        resolve(result.value);
      } else {
        reject(new OfficeError(method, result?.error));
      }
    });
  });
}

// tokenStore keeps the token set in localStorage of the add-in origin. Office's
// storage guidance: roamingSettings roam with the mailbox to every device and are
// readable by anything with mailbox access, so secrets such as refresh tokens do
// not belong there; localStorage stays on this device, in this origin only.
// Sign-out calls clear().
export function tokenStore(storage) {
  return {
    get() {
      try {
        return JSON.parse(storage.getItem(TOKEN_KEY) ?? "null");
      } catch {
        return null;
      }
    },
    set(tokens) {
      storage.setItem(TOKEN_KEY, JSON.stringify(tokens));
    },
    clear() {
      storage.removeItem(TOKEN_KEY);
    },
  };
}

// phoneMemory remembers the mobile number last used per external address.
export function phoneMemory(storage) {
  const key = (address) => PHONE_KEY_PREFIX + address.toLowerCase();
  return {
    get: (address) => storage.getItem(key(address)) ?? "",
    set: (address, phone) => storage.setItem(key(address), phone),
  };
}

// patternCache keeps the detect patterns entry in localStorage, where the
// on-send handler (commands.js, same origin) reads it.
export function patternCache(storage) {
  return {
    load: () => parseEntry(storage.getItem(PATTERNS_KEY)),
    save: (entry) => storage.setItem(PATTERNS_KEY, JSON.stringify(entry)),
    clear: () => storage.removeItem(PATTERNS_KEY),
  };
}

// updatePatterns fetches the organisation's detect patterns when the cached
// ones are missing or over an hour old; failures keep the cache.
export function updatePatterns(client, cache, { now = Date.now(), force = false } = {}) {
  return refreshPatterns({ client, load: cache.load, save: cache.save, now, force });
}

// readRecipients returns the draft's recipients per field, in order.
export async function readRecipients(item) {
  const out = { to: [], cc: [], bcc: [] };
  for (const field of FIELDS) {
    if (!item[field]) continue;
    const list = await officeCall(item[field], "getAsync");
    out[field] = (list ?? []).map((r) => ({ address: r.emailAddress, name: r.displayName ?? "" }));
  }
  return out;
}

// loadRecipients resolves every distinct recipient and returns one row per
// recipient: {field, address, name, route, reason, organisation, transport}.
export async function loadRecipients(item, client) {
  const fields = await readRecipients(item);
  const rows = FIELDS.flatMap((field) => fields[field].map((r) => ({ field, ...r })));
  const distinct = [...new Set(rows.map((r) => r.address.toLowerCase()))];
  if (distinct.length === 0) return { fields, rows: [] };
  const resolved = await client.resolve(distinct);
  const byAddress = new Map(resolved.map((r) => [r.address.toLowerCase(), r]));
  return { fields, rows: rows.map((r) => withResolution(r, byAddress.get(r.address.toLowerCase()))) };
}

function withResolution(row, res) {
  if (!res) return { ...row, route: "invalid", reason: "unresolved" };
  return {
    ...row,
    route: res.route,
    reason: res.reason ?? "",
    organisation: res.organisation ?? null,
    transport: res.transport ?? null,
  };
}

// routeLabels gives the i18n keys describing how a row is delivered: the route
// and, for internal recipients whose transport is known, how it is secured.
export function routeLabels(row) {
  const route = ["internal", "external"].includes(row.route) ? row.route : "invalid";
  const keys = [routeKey(route)];
  if (route === "internal" && row.transport?.mode) keys.push(transportKey(row.transport.mode));
  return keys;
}

// checkPhones validates the entered numbers of every recipient that needs one.
// It returns {phones: {address: E.164}, errors: {address: message key}}.
export function checkPhones(rows, entered) {
  const phones = {};
  const errors = {};
  for (const row of rows) {
    if (!needsPhone(row) || row.address in phones || row.address in errors) continue;
    const raw = (entered[row.address] ?? "").trim();
    const phone = raw === "" ? null : normalisePhone(raw);
    if (raw === "") errors[row.address] = "phone.required";
    else if (!phone) errors[row.address] = "phone.invalid";
    else phones[row.address] = phone;
  }
  return { phones, errors };
}

// validateForSend checks the whole draft before sending. It returns {phones,
// errors, problem}: problem is the i18n key of what blocks the send, or null.
export function validateForSend(rows, entered) {
  const { phones, errors } = checkPhones(rows, entered);
  let problem = null;
  if (rows.length === 0) problem = "error.noRecipients";
  else if (rows.some((r) => r.route === "invalid")) problem = "error.invalidRecipient";
  else if (Object.keys(errors).length > 0) problem = "phone.fix";
  return { phones, errors, problem };
}

// base64Bytes decodes base64 into bytes.
export function base64Bytes(b64) {
  const bin = atob(b64.replace(/\s/g, ""));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

// readAttachments fetches every attachment of the draft as a File.
// Cloud attachments (format "url") cannot be sent securely and raise an error.
export async function readAttachments(item) {
  if (typeof item.getAttachmentsAsync !== "function") return [];
  const list = await officeCall(item, "getAttachmentsAsync");
  if (list.length > MAX_ATTACHMENTS) throw new DraftError("error.attachments.tooMany");
  const files = [];
  for (const att of list) {
    const content = await officeCall(item, "getAttachmentContentAsync", att.id);
    files.push(attachmentFile(att, content));
  }
  return files;
}

// DraftError is a draft Veilig cannot send as it is; key is an i18n key.
export class DraftError extends Error {
  constructor(key, ...args) {
    super(`outlook: ${key}`);
    this.name = "DraftError";
    this.key = key;
    this.args = args;
  }
}

function attachmentFile(att, content) {
  switch (content.format) {
    case "base64":
      return new File([base64Bytes(content.content)], att.name, { type: att.contentType || "application/octet-stream" });
    case "eml":
      return new File([content.content], withExt(att.name, ".eml"), { type: "message/rfc822" });
    case "iCalendar":
      return new File([content.content], withExt(att.name, ".ics"), { type: "text/calendar" });
    default:
      throw new DraftError("error.attachments.cloud", att.name);
  }
}

function withExt(name, ext) {
  return name.toLowerCase().endsWith(ext) ? name : name + ext;
}

// readDraft collects subject, HTML body and attachments of the draft.
export async function readDraft(item) {
  const subject = await officeCall(item.subject, "getAsync");
  const html = await officeCall(item.body, "getAsync", "html");
  const attachments = await readAttachments(item);
  return { subject: subject ?? "", html: html ?? "", attachments };
}

// idempotencyKey returns a key that stays the same for this draft, so a retry
// after a lost answer never sends twice: stored in item.sessionData (1.11), else
// derived from the saved item id (1.8), else one per task pane session.
export async function idempotencyKey(item, fallback) {
  if (item.sessionData) {
    const stored = await officeCall(item.sessionData, "getAsync", SESSION_KEY).catch(() => "");
    if (stored) return stored;
    const key = "outlook-" + crypto.randomUUID();
    const saved = await officeCall(item.sessionData, "setAsync", SESSION_KEY, key).then(() => true, () => false);
    if (saved) return key;
  }
  if (typeof item.getItemIdAsync === "function") {
    const id = await officeCall(item, "getItemIdAsync").catch(() => "");
    if (id) return "outlook-item-" + (await sha256Hex(id));
  }
  return fallback;
}

async function sha256Hex(s) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// sendDraft reads the draft, posts it to Veilig and closes the draft when the
// host supports it. It returns {result, closed}. report(key, ...args) receives
// progress as i18n keys.
export async function sendDraft({ office, client, rows, fields, phones, fallbackKey, report }) {
  const item = office.context.mailbox.item;
  report("progress.reading");
  const draft = await readDraft(item);
  const key = await idempotencyKey(item, fallbackKey);
  const addresses = (f) => fields[f].map((r) => r.address);
  const message = { to: addresses("to"), cc: addresses("cc"), bcc: addresses("bcc"), ...draft, text: "", phones };
  report("progress.sending", 0);
  const onProgress = (p) => report("progress.sending", percent(p));
  const result = await client.send(message, { idempotencyKey: key, onProgress });
  const closed = await closeDraft(office, item);
  report(closed ? "progress.sent" : "progress.sentDiscard");
  return { result, closed, rows };
}

function percent(p) {
  if (typeof p === "number") return Math.round(p <= 1 ? p * 100 : p);
  if (p && p.total) return Math.round((p.loaded / p.total) * 100);
  return 0;
}

// closeDraft discards the sent draft (Mailbox 1.14); false when unsupported.
export async function closeDraft(office, item) {
  if (!office.context.requirements.isSetSupported("Mailbox", "1.14")) return false;
  return officeCall(item, "closeAsync", { discardItem: true }).then(() => true, () => false);
}

// describeError turns any failure into plain words in the user's language.
export function describeError(lang, err) {
  if (err instanceof DraftError) return t(lang, err.key, ...err.args);
  if (err instanceof OfficeError) return t(lang, "error.office");
  if (err && typeof err.status === "number") return t(lang, errorKey(err.status), err.status);
  return t(lang, "error.network");
}

// baseUrl is PUBLIC_URL: the pane is served at PUBLIC_URL/addin/outlook/.
export function baseUrlFrom(href) {
  return new URL("../../", href).href.replace(/\/$/, "");
}

// ---- DOM wiring (task pane only) ----

function boot(office, win) {
  const doc = win.document;
  const lang = pickLanguage(office.context.displayLanguage);
  const tokens = tokenStore(win.localStorage);
  const xhrFactory = () => new win.XMLHttpRequest(); // upload progress
  const client = new VeiligClient({ baseUrl: baseUrlFrom(win.location.href), tokens, xhrFactory });
  const pane = { office, win, doc, lang, tokens, client, memory: phoneMemory(win.localStorage), state: null };
  pane.patterns = patternCache(win.localStorage);
  pane.fallbackKey = "outlook-" + win.crypto.randomUUID();
  translate(doc, lang);
  doc.documentElement.lang = lang;
  $(doc, "signin-button").addEventListener("click", () => signIn(pane));
  $(doc, "signout").addEventListener("click", () => signOut(pane));
  $(doc, "refresh").addEventListener("click", () => refresh(pane));
  $(doc, "send").addEventListener("click", () => send(pane));
  watchRecipients(pane);
  showSignedIn(pane, tokens.get() !== null);
}

function $(doc, id) {
  return doc.getElementById(id);
}

function translate(doc, lang) {
  for (const el of doc.querySelectorAll("[data-i18n]")) el.textContent = t(lang, el.dataset.i18n);
}

function watchRecipients(pane) {
  const item = pane.office.context.mailbox.item;
  if (!pane.office.context.requirements.isSetSupported("Mailbox", "1.7")) return;
  item.addHandlerAsync(pane.office.EventType.RecipientsChanged, () => refresh(pane));
}

function showSignedIn(pane, signedIn) {
  $(pane.doc, "signin").hidden = signedIn;
  $(pane.doc, "compose").hidden = !signedIn;
  $(pane.doc, "signout").hidden = !signedIn;
  if (!signedIn) return;
  refresh(pane);
  updatePatterns(pane.client, pane.patterns); // never rejects; the on-send check reads the cache
}

function say(pane, key, ...args) {
  $(pane.doc, "error").textContent = "";
  $(pane.doc, "status").textContent = key ? t(pane.lang, key, ...args) : "";
  const bar = $(pane.doc, "progress");
  bar.hidden = key !== "progress.sending";
  if (key === "progress.sending") bar.value = args[0] ?? 0;
}

function fail(pane, err) {
  say(pane, "");
  $(pane.doc, "error").textContent = describeError(pane.lang, err);
  if (err && err.status === 401) showSignedIn(pane, false);
}

async function refresh(pane) {
  say(pane, "progress.resolving");
  try {
    pane.state = await loadRecipients(pane.office.context.mailbox.item, pane.client);
    renderRecipients(pane);
    say(pane, "");
  } catch (err) {
    fail(pane, err);
  }
}

function renderRecipients(pane) {
  const list = $(pane.doc, "recipients");
  const typed = enteredPhones(pane); // keep what was typed across a re-render
  const asked = new Set(); // one phone field per address, even when in To and Bcc
  const ask = (row) => needsPhone(row) && !asked.has(row.address) && asked.add(row.address);
  list.replaceChildren(...pane.state.rows.map((row, i) => recipientItem(pane, row, i, ask(row) ? typed : null)));
  $(pane.doc, "empty").hidden = pane.state.rows.length > 0;
}

function recipientItem(pane, row, i, typed) {
  const { doc, lang } = pane;
  const li = doc.createElement("li");
  li.className = `recipient route-${row.route}`;
  const who = doc.createElement("span");
  who.className = "address";
  who.textContent = row.name && row.name !== row.address ? `${row.name} <${row.address}>` : row.address;
  const route = doc.createElement("span");
  route.className = "route";
  route.textContent = `${t(lang, `field.${row.field}`)} · ${routeLabels(row).map((k) => t(lang, k)).join(" ")}`;
  li.append(who, route);
  if (typed) li.append(...phoneField(pane, row, i, typed[row.address]));
  return li;
}

function phoneField(pane, row, i, typed) {
  const { doc, lang } = pane;
  const label = doc.createElement("label");
  label.htmlFor = `phone-${i}`;
  label.textContent = t(lang, "phone.prompt", row.address);
  const input = doc.createElement("input");
  Object.assign(input, { id: `phone-${i}`, type: "tel", autocomplete: "off", value: typed ?? pane.memory.get(row.address) });
  input.dataset.address = row.address;
  const hint = doc.createElement("span");
  Object.assign(hint, { id: `phone-${i}-hint`, className: "hint", textContent: t(lang, "phone.hint") });
  input.setAttribute("aria-describedby", `phone-${i}-hint phone-${i}-error`);
  const error = doc.createElement("span");
  Object.assign(error, { id: `phone-${i}-error`, className: "field-error" });
  return [label, input, hint, error];
}

function enteredPhones(pane) {
  const entered = {};
  for (const input of pane.doc.querySelectorAll("input[data-address]")) entered[input.dataset.address] = input.value;
  return entered;
}

function showPhoneErrors(pane, errors) {
  for (const input of pane.doc.querySelectorAll("input[data-address]")) {
    const key = errors[input.dataset.address];
    input.setAttribute("aria-invalid", key ? "true" : "false");
    pane.doc.getElementById(`${input.id}-error`).textContent = key ? t(pane.lang, key) : "";
  }
  const first = pane.doc.querySelector("input[aria-invalid=true]");
  if (first) first.focus();
}

async function send(pane) {
  if (!pane.state) return refresh(pane);
  const { phones, errors, problem } = validateForSend(pane.state.rows, enteredPhones(pane));
  showPhoneErrors(pane, errors);
  if (problem) return fail(pane, new DraftError(problem));
  for (const [address, phone] of Object.entries(phones)) pane.memory.set(address, phone);
  const button = $(pane.doc, "send");
  button.disabled = true;
  try {
    await sendDraft({ ...pane, ...pane.state, phones, report: (key, ...a) => say(pane, key, ...a) });
  } catch (err) {
    fail(pane, err);
  } finally {
    button.disabled = false;
  }
}

// signIn opens login.html in an Office dialog; the dialog signs in with the
// core client and hands the token set back with messageParent.
function signIn(pane) {
  const url = new URL("login.html", pane.win.location.href).href;
  pane.office.context.ui.displayDialogAsync(url, { height: 60, width: 30 }, (res) => {
    if (res.status !== "succeeded") return fail(pane, new DraftError("error.signinDialog"));
    const dialog = res.value;
    dialog.addEventHandler(pane.office.EventType.DialogMessageReceived, (arg) => {
      dialog.close();
      acceptLogin(pane, arg);
    });
  });
}

// acceptLogin stores the tokens from the sign-in dialog; messages from any
// other origin are ignored.
export function acceptLogin(pane, arg) {
  if (arg.origin && arg.origin !== pane.win.location.origin) return false;
  let msg;
  try {
    msg = JSON.parse(arg.message);
  } catch {
    return false;
  }
  if (msg?.type !== LOGIN_MESSAGE || !msg.tokens?.access) return false;
  pane.tokens.set(msg.tokens);
  pane.patterns?.clear(); // a new sign-in fetches its organisation's patterns afresh
  if (pane.doc) showSignedIn(pane, true);
  return true;
}

async function signOut(pane) {
  try {
    await pane.client.logout();
  } catch {
    // The server may be unreachable; the local tokens go regardless.
  }
  pane.tokens.clear();
  pane.patterns.clear();
  pane.state = null;
  showSignedIn(pane, false);
}

// login.html imports this module for its helpers: boot only in the task pane.
if (typeof document !== "undefined" && globalThis.Office?.onReady) {
  globalThis.Office.onReady(() => document.getElementById("compose") && boot(globalThis.Office, window));
}
