// Background event page (Manifest V3): every listener is registered
// synchronously at the top level, so Thunderbird can wake the page for it.
// The core modules are packed into the extension under core/ (make addins).
import { VeiligClient } from "./core/api.js";
import { detect } from "./core/detector.js";
import * as patterns from "./core/patterns.js";
import { normalisePhone, needsPhone } from "./core/recipients.js";
import { createVeilig } from "./veilig.js";

export const app = createVeilig({
  messenger,
  core: { VeiligClient, detect, normalisePhone, needsPhone, patterns },
});

messenger.compose.onBeforeSend.addListener((tab, details) => app.onBeforeSend(tab, details));
messenger.notifications.onClicked.addListener((id) => app.onNotificationClicked(id));
messenger.runtime.onMessage.addListener((req) => app.onMessage(req));
messenger.addressBooks.provider.onSearchRequest.addListener(
  (node, searchString, query) => app.onSearchRequest(node, searchString, query),
  { addressBookName: "Veilig", isSecure: true, id: "veilig-community" },
);

// Each wake-up refreshes the detect patterns when they are over an hour old.
app.updatePatterns();
