// TEST-ONLY background module, added to the extension by the Go end-to-end
// test (internal/e2e/thunderbird_test.go) and never packed into the xpi. At
// start-up it fetches instructions from the test's HTTP server on 127.0.0.1,
// drives the extension's own code paths in real Thunderbird and posts back
// what happened.
import { app } from "./background.js";

const out = { steps: [], providerCalls: [], beforeSend: [] };
let control = "";

function step(name, data = {}) {
  out.steps.push({ name, ...data });
  if (control) fetch(control + "/log", { method: "POST", body: JSON.stringify({ name, ...data }) }).catch(() => {});
}

async function attempt(name, fn) {
  try {
    const value = await fn();
    step(name, { ok: true });
    return value;
  } catch (err) {
    step(name, { ok: false, error: String(err?.message || err), status: err?.status, detail: err?.detail });
    return undefined;
  }
}

// Record what the extension's own listeners did.
const search = app.onSearchRequest;
app.onSearchRequest = async (...args) => {
  const res = await search(...args);
  out.providerCalls.push({ searchString: args[1], emails: res.results.map((r) => r.PrimaryEmail) });
  return res;
};
const beforeSend = app.onBeforeSend;
app.onBeforeSend = async (tab, details) => {
  const res = await beforeSend(tab, details);
  out.beforeSend.push({ subject: details.subject, cancel: Boolean(res.cancel) });
  return res;
};

const within = (ms, p) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error("timeout")), ms))]);

async function sendBlocked(tabId) {
  try {
    await within(60000, messenger.compose.sendMessage(tabId));
    return "sent";
  } catch (err) {
    return "rejected: " + String(err?.message || err);
  }
}

async function compose(ins, extra) {
  const tab = await messenger.compose.beginNew({ to: ins.to, cc: ins.cc, subject: ins.subject,
    isPlainText: true, plainTextBody: ins.body, ...extra });
  return tab.id;
}

async function run() {
  const cfg = await (await fetch(messenger.runtime.getURL("test-config.json"))).json();
  control = cfg.control;
  const ins = await (await fetch(control + "/instructions")).json();
  step("instructions");
  await messenger.storage.local.set({ serverUrl: ins.server });
  await attempt("login", () => app.login(ins.username, ins.password));

  const contacts = messenger.addressBooks?.contacts?.query ? messenger.addressBooks.contacts : messenger.contacts;
  out.query = await attempt("contacts.query", async () =>
    (await contacts.query({ searchString: ins.search, includeRemote: true, includeLocal: false }))
      .map((c) => c.vCard || c.properties?.PrimaryEmail || ""));

  // A BSN in the body stops the normal send when secure mode is off.
  const bsnTab = await attempt("beginNew bsn", () => compose(ins, { subject: ins.subject + " (BSN)", plainTextBody: ins.bsnBody }));
  if (bsnTab) out.bsnSend = await sendBlocked(bsnTab);

  const tabId = await attempt("beginNew", () => compose(ins, {}));
  if (!tabId) return;
  const bytes = Uint8Array.from(atob(ins.attachment.base64), (c) => c.charCodeAt(0));
  await attempt("addAttachment", () => messenger.compose.addAttachment(tabId,
    { file: new File([bytes], ins.attachment.name, { type: ins.attachment.type }) }));
  for (const [addr, phone] of Object.entries(ins.phones)) await attempt("setPhone", () => app.setPhone(addr, phone));
  await app.setSecure(tabId, true);
  out.secureSend = await sendBlocked(tabId);
  out.state = await attempt("state", () => app.state(tabId));
  out.sent = await attempt("sendTab", () => app.sendTab(tabId));
  out.tabClosed = await messenger.tabs.get(tabId).then(() => false, () => true);
}

run()
  .catch((err) => step("driver", { ok: false, error: String(err?.message || err) }))
  .finally(() => control && fetch(control + "/results", { method: "POST", body: JSON.stringify(out) }));
