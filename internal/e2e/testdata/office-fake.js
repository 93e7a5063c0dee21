// A stand-in for Office.js (https://appsforoffice.microsoft.com/lib/1/hosted/office.js)
// for the task pane test: the browser gets it instead of the real script
// (DevTools Fetch.fulfillRequest), so the page's CSP and load order are the
// real ones. It implements only what addin/outlook/taskpane.js and login.js
// use, with Office's asynchronous-result shape ({status, value, error}), and
// records every call in globalThis.__officeFake for the test to read.
//
// The draft comes from globalThis.__officeFakeDraft, which the test prepends:
//   {language, to, cc, bcc: [{emailAddress, displayName}], subject, html,
//    attachments: [{id, name, contentType, size, base64}], sets: {"Mailbox": "1.14"}}
//
// The sign-in dialog is not a real window: displayDialogAsync records the URL,
// the test opens it in a second tab, and that tab's messageParent reaches this
// tab over a BroadcastChannel, as DialogMessageReceived.
(function () {
  "use strict";
  var draft = globalThis.__officeFakeDraft || {};
  var CHANNEL = "veilig-office-fake-dialog";
  var rec = { calls: [], dialogUrl: "", dialogClosed: false, closed: null, messages: [] };
  globalThis.__officeFake = rec;

  function record(name, args) {
    rec.calls.push({ name: name, args: args === undefined ? null : args });
  }
  function ok(value) {
    return { status: "succeeded", value: value, error: null };
  }
  function failed(code, message) {
    return { status: "failed", value: undefined, error: { code: code, name: "Error", message: message } };
  }
  // callback is the last function argument, as in Office.js.
  function answer(args, result) {
    var cb = null;
    for (var i = args.length - 1; i >= 0; i--) {
      if (typeof args[i] === "function") {
        cb = args[i];
        break;
      }
    }
    if (cb) setTimeout(function () { cb(result); }, 0);
  }
  function recipients(field) {
    return {
      getAsync: function () {
        record(field + ".getAsync");
        answer(arguments, ok((draft[field] || []).map(function (r) {
          return { emailAddress: r.emailAddress, displayName: r.displayName || "", recipientType: "other" };
        })));
      },
    };
  }
  function versionAtLeast(have, want) {
    var a = String(have).split(".").map(Number);
    var b = String(want || "1.1").split(".").map(Number);
    for (var i = 0; i < Math.max(a.length, b.length); i++) {
      if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0);
    }
    return true;
  }

  var session = {};
  var item = {
    itemType: "message",
    to: recipients("to"),
    cc: recipients("cc"),
    bcc: recipients("bcc"),
    subject: {
      getAsync: function () {
        record("subject.getAsync");
        answer(arguments, ok(draft.subject || ""));
      },
    },
    body: {
      getAsync: function (coercion) {
        record("body.getAsync", coercion);
        answer(arguments, coercion === "html" ? ok(draft.html || "") : failed(9000, "only html in the fake"));
      },
    },
    getAttachmentsAsync: function () {
      record("getAttachmentsAsync");
      answer(arguments, ok((draft.attachments || []).map(function (a) {
        return { id: a.id, name: a.name, contentType: a.contentType, size: a.size, attachmentType: "file", isInline: false };
      })));
    },
    getAttachmentContentAsync: function (id) {
      record("getAttachmentContentAsync", id);
      var a = (draft.attachments || []).filter(function (x) { return x.id === id; })[0];
      answer(arguments, a ? ok({ format: "base64", content: a.base64 }) : failed(9040, "no such attachment"));
    },
    sessionData: {
      getAsync: function (key) {
        record("sessionData.getAsync", key);
        answer(arguments, key in session ? ok(session[key]) : failed(9057, "key not found"));
      },
      setAsync: function (key, value) {
        record("sessionData.setAsync", key);
        session[key] = String(value);
        answer(arguments, ok(undefined));
      },
    },
    getItemIdAsync: function () {
      record("getItemIdAsync");
      answer(arguments, failed(9051, "the draft is not saved"));
    },
    addHandlerAsync: function (type) {
      record("addHandlerAsync", type);
      answer(arguments, ok(undefined));
    },
    closeAsync: function (options) {
      record("closeAsync", options || null);
      rec.closed = options || {};
      answer(arguments, ok(undefined));
    },
  };

  function displayDialogAsync(url) {
    record("displayDialogAsync", url);
    rec.dialogUrl = url;
    var handlers = [];
    var channel = new BroadcastChannel(CHANNEL);
    channel.onmessage = function (ev) {
      handlers.forEach(function (h) {
        h({ type: "dialogMessageReceived", message: ev.data.message, origin: ev.data.origin });
      });
    };
    var dialog = {
      addEventHandler: function (type, handler) {
        record("dialog.addEventHandler", type);
        if (type === Office.EventType.DialogMessageReceived) handlers.push(handler);
      },
      close: function () {
        record("dialog.close");
        rec.dialogClosed = true;
        channel.close();
      },
    };
    answer(arguments, ok(dialog));
  }

  function messageParent(message) {
    record("messageParent");
    rec.messages.push(message);
    var channel = new BroadcastChannel(CHANNEL);
    channel.postMessage({ message: message, origin: location.origin });
    channel.close();
  }

  var sets = draft.sets || { Mailbox: "1.14", DialogApi: "1.1" };
  var Office = {
    HostType: { Outlook: "Outlook" },
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    CoercionType: { Html: "html", Text: "text" },
    EventType: { RecipientsChanged: "olkRecipientsChanged", DialogMessageReceived: "dialogMessageReceived" },
    context: {
      displayLanguage: draft.language || "nl-NL",
      requirements: {
        isSetSupported: function (name, version) {
          return name in sets && versionAtLeast(sets[name], version);
        },
      },
      mailbox: { item: item },
      ui: { displayDialogAsync: displayDialogAsync, messageParent: messageParent },
    },
    onReady: function (cb) {
      record("onReady");
      var info = { host: "Outlook", platform: "OfficeOnline" };
      return new Promise(function (resolve) {
        setTimeout(function () {
          if (typeof cb === "function") cb(info);
          resolve(info);
        }, 0);
      });
    },
  };
  globalThis.Office = Office;
})();
