// Shared helpers of the popup and options page: localisation of data-i18n
// elements and talking to the background page.

export function localise(doc, i18n) {
  doc.documentElement.lang = i18n.getUILanguage().startsWith("nl") ? "nl" : "en";
  for (const el of doc.querySelectorAll("[data-i18n]")) {
    el.textContent = i18n.getMessage(el.dataset.i18n);
  }
}

// call sends a command to the background page and returns its value, or
// throws the error description it answered with.
export async function call(runtime, req) {
  const res = await runtime.sendMessage(req);
  if (!res?.ok) throw Object.assign(new Error(res?.error?.code || "failed"), { info: res?.error || {} });
  return res.value;
}

// errorText is the user-facing text of an error description.
export function errorText(i18n, info = {}) {
  const keys = {
    noServer: "errNoServer", badServer: "errBadServer", badPhone: "errBadPhone",
    noRecipients: "errNoRecipients", tooLarge: "errTooLarge", network: "errNetwork",
  };
  if (info.code === "server") {
    return i18n.getMessage("errServer", [info.detail || info.title || String(info.status)]);
  }
  return i18n.getMessage(keys[info.code] || "errNetwork");
}
