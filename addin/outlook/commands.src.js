// Veilig on-send check for Outlook (Smart Alerts, OnMessageSend, Mailbox 1.12;
// cancelLabel, commandId and sendModeOverride 1.14; errorMessageMarkdown 1.15).
// Before a draft leaves through Outlook's normal path, the subject and body are
// searched for BSNs and IBANs; when one is found the user is offered to send
// securely through the Veilig task pane instead.
//
// Classic Outlook on Windows runs this handler in a JavaScript-only runtime that
// loads one classic script: addin/build.mjs turns this module into
// addin/outlook/commands.js, inlining the core imports below. Edit this file,
// then run `node build.mjs` in addin/.
//
// The organisation's extra patterns come from the cache the task pane keeps in
// localStorage (same origin); this handler never fetches. Where there is no
// localStorage (the JavaScript-only runtime of classic Outlook on Windows) only
// the built-in BSN and IBAN checks run.
//
// Never leave the user stuck: any failure lets the send go ahead.

import * as detector from "../core/detector.js";
import * as i18n from "../core/i18n.js";
import * as patterns from "../core/patterns.js";

// TASKPANE_COMMAND_ID is the id of the "Veilig" task pane button in the manifests.
const TASKPANE_COMMAND_ID = "veiligSendSecurely";
// Outlook shows "taking longer than expected" after 5 s and drops the handler at
// 5 min; well before that, give up and let the send go.
const GIVE_UP_MS = 60 * 1000;

function onMessageSend(event) {
  let done = false;
  const finish = (options) => {
    if (done) return;
    done = true;
    event.completed(options);
  };
  const timer = typeof setTimeout === "function" ? setTimeout(() => finish({ allowEvent: true }), GIVE_UP_MS) : null;
  check(Office)
    .then((options) => finish(options), () => finish({ allowEvent: true }))
    .then(() => timer !== null && clearTimeout(timer));
}

// check reads subject and body and returns the event.completed options.
async function check(office) {
  const item = office.context.mailbox.item;
  const subject = await getAsync(item.subject);
  const body = await getAsync(item.body, office.CoercionType.Text);
  const found = detector.detect(`${subject ?? ""}\n${body ?? ""}`, { patterns: cachedPatterns() });
  if (found.length === 0) return { allowEvent: true };
  return blockOptions(office, found);
}

// cachedPatterns reads the task pane's pattern cache, stale or not; any
// trouble means no extra patterns.
function cachedPatterns() {
  try {
    if (typeof localStorage === "undefined" || !localStorage) return [];
    return patterns.cachedPatterns(patterns.parseEntry(localStorage.getItem(patterns.PATTERNS_KEY)));
  } catch {
    return [];
  }
}

function getAsync(target, ...args) {
  return new Promise((resolve, reject) => {
    target.getAsync(...args, (result) => {
      if (result && result.status === "succeeded") resolve(result.value);
      else reject(new Error("commands: getAsync failed"));
    });
  });
}

// blockOptions builds the Smart Alerts prompt, using what the host supports.
function blockOptions(office, found) {
  const lang = i18n.pickLanguage(office.context.displayLanguage);
  const options = { allowEvent: false, errorMessage: i18n.t(lang, "sensitive.prompt") };
  const supported = (v) => office.context.requirements.isSetSupported("Mailbox", v);
  if (supported("1.14")) {
    options.cancelLabel = i18n.t(lang, "action.sendSecurely");
    options.commandId = TASKPANE_COMMAND_ID;
    options.sendModeOverride = office.MailboxEnums.SendModeOverride.PromptUser;
  }
  if (supported("1.15")) {
    const kinds = [...new Set(found.map((m) => i18n.t(lang, `sensitive.${m.kind}`)))];
    options.errorMessageMarkdown = `${options.errorMessage}\n\n${kinds.map((k) => `**${k}**`).join(", ")}`;
  }
  return options;
}

Office.actions.associate("onMessageSend", onMessageSend);
