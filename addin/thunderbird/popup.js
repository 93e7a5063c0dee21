// compose_action popup: recipients with their route, phone numbers for
// external ones, the secure switch of this compose tab, and Send. Sending
// runs in the background page so closing the popup does not abort it.
import { call, errorText, localise } from "./ui.js";

const m = globalThis.messenger;
const $ = (id) => document.getElementById(id);

function routeText(r) {
  if (r.route === "invalid") return m.i18n.getMessage("routeInvalid");
  if (r.route === "external") return m.i18n.getMessage("routeExternal");
  if (r.route) return m.i18n.getMessage("routeCommunity") + (r.organisation?.name ? ` — ${r.organisation.name}` : "");
  return "";
}

function phoneInput(r) {
  const input = document.createElement("input");
  input.type = "tel";
  input.autocomplete = "tel";
  input.placeholder = "06…";
  input.value = r.phone || "";
  input.setAttribute("aria-label", m.i18n.getMessage("popupPhone"));
  input.addEventListener("change", async () => {
    try {
      input.value = await call(m.runtime, { cmd: "setPhone", address: r.address, phone: input.value });
      input.classList.remove("bad");
      status("");
    } catch (err) {
      input.classList.add("bad");
      status(errorText(m.i18n, err.info), true);
    }
  });
  return input;
}

function row(r) {
  const li = document.createElement("li");
  li.append(r.address);
  const route = document.createElement("span");
  route.className = "route" + (r.route === "invalid" ? " invalid" : "");
  route.textContent = routeText(r);
  li.append(route);
  if (r.needsPhone || r.route === "external") li.append(phoneInput(r));
  return li;
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function render(st) {
  $("secure").checked = st.secure;
  $("signin").hidden = st.signedIn;
  const list = $("recipients");
  list.replaceChildren(...st.recipients.map(row));
  if (st.recipients.length === 0) status(m.i18n.getMessage("popupNoRecipients"));
  $("send").disabled = !st.signedIn || st.recipients.length === 0;
}

async function main() {
  localise(document, m.i18n);
  const [tab] = await m.tabs.query({ active: true, currentWindow: true });
  const tabId = tab.id;
  $("options").addEventListener("click", () => m.runtime.openOptionsPage());
  $("secure").addEventListener("change", (e) => call(m.runtime, { cmd: "setSecure", tabId, on: e.target.checked }));
  $("send").addEventListener("click", async () => {
    $("send").disabled = true;
    status(m.i18n.getMessage("popupSending"));
    try {
      await call(m.runtime, { cmd: "send", tabId });
      status(m.i18n.getMessage("popupSent"));
      window.close();
    } catch (err) {
      status(errorText(m.i18n, err.info), true);
      $("send").disabled = false;
    }
  });
  try {
    render(await call(m.runtime, { cmd: "state", tabId }));
  } catch (err) {
    status(errorText(m.i18n, err.info), true);
  }
}

main();
