import { test } from "node:test";
import assert from "node:assert/strict";

import { MESSAGES, errorKey, pickLanguage, t } from "./i18n.js";

test("pickLanguage", async (tt) => {
  for (const [tag, want] of [
    ["nl-NL", "nl"], ["nl", "nl"], ["en-US", "en"], ["EN_gb", "en"], ["en", "en"],
    ["de-DE", "nl"], ["fr", "nl"], ["", "nl"], [undefined, "nl"], [null, "nl"],
  ]) {
    await tt.test(String(tag), () => assert.equal(pickLanguage(tag), want));
  }
});

test("both languages have the same keys and no empty text", () => {
  assert.deepEqual(Object.keys(MESSAGES.en).sort(), Object.keys(MESSAGES.nl).sort());
  for (const lang of ["nl", "en"]) {
    for (const [k, v] of Object.entries(MESSAGES[lang])) assert.ok(v.trim() !== "", `${lang} ${k}`);
  }
});

test("t", async (tt) => {
  for (const [lang, key, args, want] of [
    ["nl", "sensitive.prompt", [], "Dit bericht lijkt een BSN/IBAN te bevatten. Veilig verzenden?"],
    ["en", "action.sendSecurely", [], "Send securely"],
    ["nl", "action.sendSecurely", [], "Veilig verzenden"],
    ["nl", "phone.prompt", ["a@b.example"], "Mobiel nummer van a@b.example voor de sms-code"],
    ["en", "route.summary", [2, 1, 0], "2 in the community, 1 outside the community, 0 invalid"],
    ["en", "phone.prompt", [], "Mobile number of {0} for the SMS code"],
    ["xx", "action.cancel", [], "Annuleren"],
    ["en", "no.such.key", [], "no.such.key"],
  ]) {
    await tt.test(`${lang} ${key}`, () => assert.equal(t(lang, key, ...args), want));
  }
});

test("the texts both UIs need exist", () => {
  const needed = [
    "action.sendSecurely", "route.internal", "route.external", "route.invalid",
    "transport.dane", "transport.mta-sts", "transport.pkix", "transport.unavailable",
    "phone.prompt", "sensitive.prompt",
    "error.400", "error.401", "error.403", "error.413", "error.415", "error.422", "error.429", "error.5xx",
    // Outlook task pane and sign-in dialog
    "pane.signin.text", "pane.recipients", "pane.noRecipients", "pane.refresh", "phone.required", "phone.fix",
    "progress.reading", "progress.sentDiscard", "error.office", "error.signinDialog", "error.attachments.cloud",
    "error.attachments.tooMany", "error.invalidRecipient", "error.noRecipients", "login.heading", "login.busy",
  ];
  for (const k of needed) assert.ok(k in MESSAGES.nl && k in MESSAGES.en, k);
});

test("errorKey", async (tt) => {
  for (const [status, want] of [
    [0, "error.network"], [400, "error.400"], [401, "error.401"], [403, "error.403"], [413, "error.413"],
    [415, "error.415"], [422, "error.422"], [429, "error.429"], [500, "error.5xx"], [503, "error.5xx"],
    [418, "error.unknown"],
  ]) {
    await tt.test(String(status), () => assert.equal(errorKey(status), want));
  }
});
