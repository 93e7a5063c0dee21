// Veilig sign-in dialog for the Outlook task pane (Office dialog API, DialogApi
// 1.1: Office.context.ui.messageParent). The page is opened by the task pane with
// displayDialogAsync, signs in with the core client (OAuth 2.0 password grant,
// RFC 6749 section 4.3, POST /api/v1/auth/token) and hands the token set back to
// the task pane, which keeps it; the dialog stores nothing itself.

import { VeiligClient } from "../core/api.js";
import { pickLanguage } from "../core/i18n.js";
import { LOGIN_MESSAGE, baseUrlFrom, describeError, t } from "./taskpane.js";

// memoryTokens captures the token set the client produces during login.
export function memoryTokens() {
  let tokens = null;
  return {
    get: () => tokens,
    set: (v) => {
      tokens = v;
    },
    clear: () => {
      tokens = null;
    },
  };
}

// signIn logs in and returns the message for the task pane (a JSON string).
export async function signIn({ baseUrl, fetch, username, password }) {
  const tokens = memoryTokens();
  const client = new VeiligClient({ baseUrl, fetch, tokens });
  const answer = await client.login(username, password);
  const set = tokens.get() ?? answer;
  if (!set || !set.access) throw new Error("login: no tokens in the answer");
  return JSON.stringify({ type: LOGIN_MESSAGE, tokens: set });
}

function boot(office, win) {
  const doc = win.document;
  const lang = pickLanguage(office.context.displayLanguage);
  doc.documentElement.lang = lang;
  for (const el of doc.querySelectorAll("[data-i18n]")) el.textContent = t(lang, el.dataset.i18n);
  const form = doc.getElementById("login");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(office, win, lang, form);
  });
}

async function submit(office, win, lang, form) {
  const doc = win.document;
  const button = doc.getElementById("submit");
  doc.getElementById("error").textContent = "";
  doc.getElementById("status").textContent = t(lang, "login.busy");
  button.disabled = true;
  try {
    const message = await signIn({
      baseUrl: baseUrlFrom(win.location.href),
      fetch: win.fetch.bind(win),
      username: form.elements.username.value.trim(),
      password: form.elements.password.value,
    });
    office.context.ui.messageParent(message);
  } catch (err) {
    doc.getElementById("status").textContent = "";
    doc.getElementById("error").textContent = err && err.status === 401 ? t(lang, "login.failed") : describeError(lang, err);
  } finally {
    button.disabled = false;
  }
}

if (typeof document !== "undefined" && globalThis.Office?.onReady) {
  globalThis.Office.onReady(() => boot(globalThis.Office, window));
}
