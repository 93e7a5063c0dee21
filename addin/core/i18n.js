// User-facing text of the Outlook and Thunderbird add-ins in Dutch and English.
// The language is picked from a BCP 47 tag (RFC 5646) such as Office's
// displayLanguage or Thunderbird's UI locale; Dutch is the default.
//
// Placeholders {0}, {1}, … are replaced by t()'s extra arguments.

const nl = {
  "app.name": "Veilig",
  "action.sendSecurely": "Veilig verzenden",
  "action.cancel": "Annuleren",
  "action.sendNormally": "Gewoon verzenden",
  "action.login": "Inloggen",
  "action.logout": "Uitloggen",
  "login.username": "E-mailadres",
  "login.password": "Wachtwoord",
  "status.sending": "Bezig met verzenden… {0}%",
  "status.sent": "Het bericht is veilig verzonden.",
  "status.checking": "Ontvangers controleren…",

  "route.internal": "Binnen de community: gaat rechtstreeks naar de eigen mailbox, alleen over een beveiligde verbinding.",
  "field.to": "Aan",
  "field.cc": "Cc",
  "field.bcc": "Bcc",
  "route.external": "Buiten de community: krijgt een e-mail met een link en leest het bericht na een sms-code.",
  "route.invalid": "Geen geldig e-mailadres: dit adres kan geen bericht ontvangen.",
  "route.summary": "{0} binnen de community, {1} buiten de community, {2} ongeldig",

  "transport.dane": "Versleuteld en gecontroleerd met DANE (DNSSEC).",
  "transport.mta-sts": "Versleuteld en gecontroleerd met MTA-STS.",
  "transport.pkix": "Versleuteld met een geldig certificaat.",
  "transport.relay": "Versleuteld via de relay van uw organisatie.",
  "transport.unavailable": "Nu geen beveiligde verbinding mogelijk; het bericht wacht tot die er is en wordt nooit onbeveiligd verzonden.",

  "phone.prompt": "Mobiel nummer van {0} voor de sms-code",
  "phone.hint": "Bijvoorbeeld 06 12345678 of +32 470 12 34 56",
  "phone.invalid": "Dit is geen geldig mobiel nummer.",

  "sensitive.prompt": "Dit bericht lijkt een BSN/IBAN te bevatten. Veilig verzenden?",
  "sensitive.bsn": "BSN",
  "sensitive.iban": "IBAN",

  "error.400": "Het bericht kon niet worden verwerkt. Controleer de ontvangers en de velden.",
  "error.401": "U bent niet (meer) ingelogd. Log opnieuw in.",
  "error.403": "U mag geen berichten verzenden met dit account.",
  "error.409": "Dit bericht is al eens met andere inhoud verzonden. Probeer het opnieuw.",
  "error.413": "Het bericht of een bijlage is te groot.",
  "error.415": "Dit soort inhoud wordt niet geaccepteerd.",
  "error.422": "Niet verzonden: controleer de mobiele nummers van de ontvangers buiten de community.",
  "error.429": "Te veel pogingen. Wacht even en probeer het opnieuw.",
  "error.5xx": "De Veilig-server heeft een storing. Probeer het later opnieuw.",
  "error.network": "Geen verbinding met de Veilig-server. Controleer uw internetverbinding.",
  "error.unknown": "Er ging iets mis ({0}).",

  // Outlook task pane and sign-in dialog.
  "pane.signin.text": "Log in bij Veilig om dit bericht veilig te verzenden.",
  "pane.recipients": "Ontvangers",
  "pane.noRecipients": "Dit concept heeft nog geen ontvangers. Voeg ze toe in Aan, CC of BCC.",
  "pane.refresh": "Ontvangers opnieuw controleren",
  "phone.required": "Vul een mobiel nummer in: de ontvanger krijgt de code per sms.",
  "phone.fix": "Niet verzonden: vul voor elke ontvanger buiten de community een geldig mobiel nummer in.",
  "progress.reading": "Bericht en bijlagen lezen…",
  "progress.sentDiscard": "Het bericht is veilig verzonden. Verwijder dit concept nu zelf, anders kan het ook nog gewoon verzonden worden.",
  "error.office": "Outlook kon het concept niet lezen. Probeer het opnieuw.",
  "error.signinDialog": "Het inlogvenster kon niet worden geopend. Sta pop-ups voor Veilig toe en probeer het opnieuw.",
  "error.attachments.cloud": "De bijlage {0} is een link naar een bestand in de cloud. Voeg het bestand zelf toe en probeer het opnieuw.",
  "error.attachments.tooMany": "Dit bericht heeft te veel bijlagen (maximaal 100).",
  "error.invalidRecipient": "Niet verzonden: verwijder of verbeter de ongeldige adressen.",
  "error.noRecipients": "Niet verzonden: voeg eerst ontvangers toe.",
  "login.heading": "Inloggen bij Veilig",
  "login.busy": "Bezig met inloggen…",
};

const en = {
  "app.name": "Veilig",
  "action.sendSecurely": "Send securely",
  "action.cancel": "Cancel",
  "action.sendNormally": "Send normally",
  "action.login": "Sign in",
  "action.logout": "Sign out",
  "login.username": "E-mail address",
  "login.password": "Password",
  "status.sending": "Sending… {0}%",
  "status.sent": "The message was sent securely.",
  "status.checking": "Checking recipients…",

  "route.internal": "In the community: delivered straight to their own mailbox, only over a secured connection.",
  "field.to": "To",
  "field.cc": "Cc",
  "field.bcc": "Bcc",
  "route.external": "Outside the community: gets an e-mail with a link and reads the message after an SMS code.",
  "route.invalid": "Not a valid e-mail address: this address cannot receive messages.",
  "route.summary": "{0} in the community, {1} outside the community, {2} invalid",

  "transport.dane": "Encrypted and verified with DANE (DNSSEC).",
  "transport.mta-sts": "Encrypted and verified with MTA-STS.",
  "transport.pkix": "Encrypted with a valid certificate.",
  "transport.relay": "Encrypted through your organisation's relay.",
  "transport.unavailable": "No secured connection possible right now; the message waits until there is one and is never sent unsecured.",

  "phone.prompt": "Mobile number of {0} for the SMS code",
  "phone.hint": "For example +31 6 12345678 or +32 470 12 34 56",
  "phone.invalid": "This is not a valid mobile number.",

  "sensitive.prompt": "This message seems to contain a BSN/IBAN. Send securely?",
  "sensitive.bsn": "citizen service number (BSN)",
  "sensitive.iban": "IBAN",

  "error.400": "The message could not be processed. Check the recipients and fields.",
  "error.401": "You are not signed in (any more). Please sign in again.",
  "error.403": "This account may not send messages.",
  "error.409": "This message was already sent once with different content. Please try again.",
  "error.413": "The message or an attachment is too large.",
  "error.415": "This kind of content is not accepted.",
  "error.422": "Not sent: check the mobile numbers of the recipients outside the community.",
  "error.429": "Too many attempts. Wait a moment and try again.",
  "error.5xx": "The Veilig server has a problem. Please try again later.",
  "error.network": "No connection to the Veilig server. Check your internet connection.",
  "error.unknown": "Something went wrong ({0}).",

  // Outlook task pane and sign-in dialog.
  "pane.signin.text": "Sign in to Veilig to send this message securely.",
  "pane.recipients": "Recipients",
  "pane.noRecipients": "This draft has no recipients yet. Add them in To, Cc or Bcc.",
  "pane.refresh": "Check recipients again",
  "phone.required": "Enter a mobile number: the recipient gets the code by SMS.",
  "phone.fix": "Not sent: enter a valid mobile number for every recipient outside the community.",
  "progress.reading": "Reading message and attachments…",
  "progress.sentDiscard": "The message was sent securely. Please delete this draft now, or it could still be sent the ordinary way.",
  "error.office": "Outlook could not read the draft. Please try again.",
  "error.signinDialog": "The sign-in window could not be opened. Allow pop-ups for Veilig and try again.",
  "error.attachments.cloud": "The attachment {0} is a link to a file in the cloud. Attach the file itself and try again.",
  "error.attachments.tooMany": "This message has too many attachments (at most 100).",
  "error.invalidRecipient": "Not sent: remove or correct the invalid addresses.",
  "error.noRecipients": "Not sent: add recipients first.",
  "login.heading": "Sign in to Veilig",
  "login.busy": "Signing in…",
};

/** Messages per language; both have the same keys (checked by the tests). */
export const MESSAGES = Object.freeze({ nl: Object.freeze(nl), en: Object.freeze(en) });

/** pickLanguage maps a BCP 47 tag to "en" for English and "nl" otherwise. */
export function pickLanguage(tag) {
  if (typeof tag !== "string") return "nl";
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0];
  return primary === "en" ? "en" : "nl";
}

/**
 * t returns the message for key in lang ("nl" or "en"; anything else is
 * Dutch) with {0}, {1}, … replaced by args. An unknown key comes back as itself
 * so a missing text shows up without breaking the UI.
 */
export function t(lang, key, ...args) {
  const table = MESSAGES[lang] ?? MESSAGES.nl;
  const text = table[key] ?? MESSAGES.nl[key];
  if (text === undefined) return key;
  return text.replace(/\{(\d+)\}/g, (m, i) => (i < args.length ? String(args[i]) : m));
}

/** errorKey gives the message key for an HTTP status (0: no connection). */
export function errorKey(status) {
  if (status === 0) return "error.network";
  if (status >= 500 && status <= 599) return "error.5xx";
  const key = `error.${status}`;
  return key in MESSAGES.nl ? key : "error.unknown";
}

/** routeKey and transportKey give the keys for a resolution's route and transport mode. */
export const routeKey = (route) => `route.${route}`;
export const transportKey = (mode) => `transport.${mode}`;
