// Options page: the server address (preset by an administrator through
// policies.json → 3rdparty → storage.managed), sign-in and sign-out, and the
// default of the secure switch. Access to the server's origin is requested
// here, on the user's click, as an optional host permission.
import { call, errorText, localise } from "./ui.js";
import { origin } from "./veilig.js";

const m = globalThis.messenger;
const $ = (id) => document.getElementById(id);

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function refresh() {
  const s = await call(m.runtime, { cmd: "settings" });
  $("url").value = s.serverUrl;
  $("default").checked = s.defaultSecure;
  $("who").textContent = m.i18n.getMessage(s.signedIn ? "optionsSignedIn" : "optionsSignedOut");
}

// grant asks for the server's origin; it must run inside the click handler.
function grant(url) {
  const o = origin(url);
  if (!o) return Promise.resolve(false);
  return m.permissions.request({ origins: [o + "/*"] });
}

async function guarded(fn) {
  try {
    await fn();
  } catch (err) {
    status(errorText(m.i18n, err.info), true);
  }
}

$("server").addEventListener("submit", (e) => {
  e.preventDefault();
  const url = $("url").value.trim();
  const asked = grant(url);
  guarded(async () => {
    if (!(await asked)) return status(m.i18n.getMessage("optionsPermission"), true);
    await call(m.runtime, { cmd: "saveServer", url });
    status(m.i18n.getMessage("optionsSaved"));
  });
});

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  guarded(async () => {
    status(""); // an earlier "saved" must not linger next to the sign-in result
    await call(m.runtime, { cmd: "login", username: $("username").value.trim(), password: $("password").value });
    $("password").value = "";
    await refresh();
  });
});

$("logout").addEventListener("click", () => guarded(async () => {
  status("");
  await call(m.runtime, { cmd: "logout" });
  await refresh();
}));

$("default").addEventListener("change", (e) => guarded(() => call(m.runtime, { cmd: "setDefault", on: e.target.checked })));

localise(document, m.i18n);
guarded(refresh);
