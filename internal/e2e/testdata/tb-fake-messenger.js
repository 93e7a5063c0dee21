// A fake Thunderbird MailExtension API (`messenger`, also as `browser`) for
// rendering the extension's popup.html and options.html in plain Chromium
// (internal/e2e/thunderbird_ui_test.go). The test server loads this module
// before the page's own script and prepends its configuration:
//
//   globalThis.__tbFakeConfig = {serverAlias, managed, messages, uiLanguage,
//                                tab, details};
//
// Only the browser API is fake. The background logic is the extension's own
// background.js (createVeilig with the real core client), imported into the
// page once the fake is in place; runtime.sendMessage reaches its
// runtime.onMessage listener as it would in Thunderbird. Requests to
// serverAlias (the address an administrator presets through policies.json,
// shown on the options page) go to the page's own origin, where the test
// server passes /api/ on to the real veilig server: a hosts-file entry, in
// effect, and no CORS, as for an extension that holds the host permission.
//
// Storage areas live in localStorage, so the options page and the popup (two
// page loads) share them as they share the extension's storage. What the
// fake was asked is kept in globalThis.__tbFake for the test to read.

const config = globalThis.__tbFakeConfig;
const realFetch = globalThis.fetch.bind(globalThis);

const record = {
  permissions: [], // permissions.request arguments
  optionsOpened: 0,
  removedTabs: [],
  notifications: [],
  messages: [], // commands sent to the background
};
globalThis.__tbFake = record;

// area is a storage.StorageArea kept as JSON under one localStorage key.
function area(name) {
  const key = "tbfake." + name;
  const load = () => JSON.parse(localStorage.getItem(key) || "{}");
  const save = (data) => localStorage.setItem(key, JSON.stringify(data));
  const list = (k) => (Array.isArray(k) ? k : [k]);
  return {
    async get(k) {
      const data = load();
      if (k == null) return data;
      return Object.fromEntries(list(k).filter((x) => x in data).map((x) => [x, data[x]]));
    },
    async set(obj) {
      save({ ...load(), ...JSON.parse(JSON.stringify(obj)) });
    },
    async remove(k) {
      const data = load();
      for (const x of list(k)) delete data[x];
      save(data);
    },
  };
}

// event is a WebExtension event whose listeners the fake can call.
function event() {
  const listeners = [];
  return {
    listeners,
    addListener: (fn) => listeners.push(fn),
    removeListener: (fn) => listeners.splice(listeners.indexOf(fn) >>> 0, 1),
    hasListener: (fn) => listeners.includes(fn),
  };
}

// getMessage follows i18n.getMessage: named placeholders whose content is
// $1…$9, and "" for an unknown key.
function getMessage(key, subs = []) {
  const entry = config.messages[key];
  if (!entry) return "";
  const args = Array.isArray(subs) ? subs : [subs];
  const positional = (s) => s.replace(/\$(\d)/g, (_, n) => String(args[n - 1] ?? ""));
  return entry.message.replace(/\$([A-Za-z0-9_@]+)\$/g, (whole, name) => {
    const ph = entry.placeholders?.[name.toLowerCase()];
    return ph ? positional(ph.content) : whole;
  });
}

// fetch sends requests for the preset server to the test server's proxy.
function fetch(input, init) {
  const url = typeof input === "string" ? input : input.url;
  if (typeof url === "string" && url.startsWith(config.serverAlias + "/")) {
    const local = location.origin + url.slice(config.serverAlias.length);
    return realFetch(typeof input === "string" ? local : new Request(local, input), init);
  }
  return realFetch(input, init);
}
globalThis.fetch = fetch;

const onMessage = event();
let background = null; // the import of background.js, started below

const messenger = {
  runtime: {
    onMessage,
    // sendMessage answers with the first listener's value, structured-cloned
    // as the extension message channel does.
    async sendMessage(req) {
      await background;
      record.messages.push(req?.cmd);
      for (const fn of onMessage.listeners) {
        const res = await fn(structuredClone(req), { id: "veilig@veilig.nl" });
        if (res !== undefined) return structuredClone(res);
      }
      throw new Error("Could not establish connection. Receiving end does not exist.");
    },
    openOptionsPage: async () => { record.optionsOpened++; },
    getURL: (path) => new URL(path, location.href).href,
  },
  i18n: { getMessage, getUILanguage: () => config.uiLanguage },
  storage: {
    local: area("local"),
    session: area("session"),
    managed: {
      async get(k) {
        const keys = Array.isArray(k) ? k : [k];
        return Object.fromEntries(keys.filter((x) => x in config.managed).map((x) => [x, config.managed[x]]));
      },
    },
  },
  permissions: {
    async request(p) {
      record.permissions.push(p);
      return true;
    },
  },
  tabs: {
    query: async () => [config.tab],
    get: async (id) => ({ ...config.tab, id }),
    remove: async (id) => { record.removedTabs.push(id); },
  },
  compose: {
    onBeforeSend: event(),
    getComposeDetails: async () => structuredClone(config.details),
    listAttachments: async () => [],
    getAttachmentFile: async () => { throw new Error("no attachments"); },
  },
  composeAction: { openPopup: async () => {} },
  notifications: {
    onClicked: event(),
    async create(opts) {
      record.notifications.push(opts);
      return "n" + record.notifications.length;
    },
  },
  addressBooks: { provider: { onSearchRequest: event() } },
};

globalThis.messenger = messenger;
globalThis.browser = messenger;
background = import("./background.js");
