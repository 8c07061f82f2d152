// The one thin wrapper over chrome.* (after uBlock Origin Lite's ext.js): every other file talks
// to the browser through these promise-returning helpers, so API quirks live in one place.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});
  if (root.ext) return;

  const storageArea = (name) => ({
    async get(key) {
      const items = await chrome.storage[name].get(key);
      return items[key];
    },
    set(key, value) {
      return chrome.storage[name].set({ [key]: value });
    },
    remove(key) {
      return chrome.storage[name].remove(key);
    },
    // Calls fn(newValue) whenever `key` changes in this area.
    watch(key, fn) {
      chrome.storage.onChanged.addListener((changes, area) => {
        if (area === name && key in changes) fn(changes[key].newValue);
      });
    },
  });

  root.ext = {
    local: storageArea("local"),
    session: storageArea("session"),

    version: () => chrome.runtime.getManifest().version,
    url: (path) => chrome.runtime.getURL(path),

    // False once the extension was reloaded or removed under a still-running content script.
    alive: () => Boolean(globalThis.chrome && chrome.runtime && chrome.runtime.id),

    // Sends to the service worker; resolves to its answer, or to undefined when nobody answered.
    async send(message) {
      try {
        return await chrome.runtime.sendMessage(message);
      } catch (_error) {
        // "Receiving end does not exist" while the worker restarts: callers treat it as no answer.
        return undefined;
      }
    },

    async sendToTab(tabId, message) {
      try {
        return await chrome.tabs.sendMessage(tabId, message);
      } catch (_error) {
        return undefined;
      }
    },

    // handler(message, sender) may return a value or a promise; its result is the answer.
    onMessage(handler) {
      chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
        Promise.resolve()
          .then(() => handler(message, sender))
          .then(sendResponse, (error) => sendResponse({ error: String(error && error.message) }));
        return true; // keeps sendResponse valid for the asynchronous answer
      });
    },

    // True when the sender is one of this extension's own pages (panel, options), not a web page.
    fromExtensionPage(sender) {
      return sender.id === chrome.runtime.id && String(sender.url).startsWith(chrome.runtime.getURL(""));
    },

    // The toolbar icon opens the side panel; the setting must be renewed when the browser starts.
    openPanelOnActionClick() {
      const apply = () => chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
      chrome.runtime.onInstalled.addListener(apply);
      chrome.runtime.onStartup.addListener(apply);
    },
  };
})();
