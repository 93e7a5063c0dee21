// A fake `messenger` for node --test: in-memory storage areas, a compose
// tab with details and attachments, and recordings of what was called.
// Only the unit tests import it; it is not packed into the extension.

function area(initial = {}) {
  const data = { ...initial };
  return {
    data,
    async get(key) {
      if (key == null) return { ...data };
      const keys = Array.isArray(key) ? key : [key];
      return Object.fromEntries(keys.filter((k) => k in data).map((k) => [k, structuredClone(data[k])]));
    },
    async set(obj) {
      Object.assign(data, structuredClone(obj));
    },
    async remove(key) {
      for (const k of Array.isArray(key) ? key : [key]) delete data[k];
    },
  };
}

export function fakeMessenger({ details = {}, files = [], local = {}, managed = null } = {}) {
  const calls = { removed: [], notifications: [], popups: [] };
  const m = {
    calls,
    storage: {
      local: area(local),
      session: area(),
      managed: {
        async get(key) {
          if (!managed) throw new Error("Managed storage manifest not found");
          return key in managed ? { [key]: managed[key] } : {};
        },
      },
    },
    compose: {
      async getComposeDetails(tabId) {
        return { to: [], cc: [], bcc: [], subject: "", isPlainText: true, plainTextBody: "", ...details, tabId };
      },
      async listAttachments() {
        return files.map((f, i) => ({ id: i + 1, name: f.name, size: f.size }));
      },
      async getAttachmentFile(id) {
        return files[id - 1];
      },
    },
    tabs: {
      async remove(id) {
        calls.removed.push(id);
      },
      async get(id) {
        return { id, windowId: 7 };
      },
    },
    composeAction: {
      async openPopup(opts) {
        calls.popups.push(opts);
      },
    },
    notifications: {
      async create(opts) {
        calls.notifications.push(opts);
        return "n" + calls.notifications.length;
      },
    },
    i18n: {
      getMessage: (key, subs = []) => [key, ...subs].join("|"),
      getUILanguage: () => "nl",
    },
  };
  return m;
}

// fakeClient records what the core client was asked.
export function fakeClientClass(script = {}) {
  const log = [];
  class FakeClient {
    constructor(opts) {
      this.opts = opts;
      log.push({ op: "new", baseUrl: opts.baseUrl });
    }
    async login(u, p) {
      log.push({ op: "login", u });
      if (script.loginFails) throw Object.assign(new Error("bad"), { status: 401, title: "Unauthorized", detail: "wrong password" });
      await this.opts.tokens.set({ access: "a", refresh: "r", expiresAt: 1 });
    }
    async logout() {
      log.push({ op: "logout" });
      await this.opts.tokens.clear();
    }
    async resolve(addrs) {
      log.push({ op: "resolve", addrs });
      return addrs.map((a) => ({ address: a, route: a.endsWith("@gemeente.test") ? "internal" : "external" }));
    }
    async search(q, limit) {
      log.push({ op: "search", q, limit });
      if (script.searchFails) throw new Error("offline");
      return script.searchResults ?? { results: [] };
    }
    async detectPatterns() {
      log.push({ op: "detectPatterns" });
      if (script.patternsFail) throw Object.assign(new Error("down"), { status: 503 });
      return script.patterns ?? [];
    }
    async send(draft, opts) {
      log.push({ op: "send", draft, opts });
      if (script.sendFails) throw Object.assign(new Error("bad"), { status: 422, title: "Invalid", detail: "phone missing" });
      return { id: "msg-1", recipients: [] };
    }
  }
  return { FakeClient, log };
}
