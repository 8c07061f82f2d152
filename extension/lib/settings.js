// The extension's own settings (chrome.storage.local "settings"), written by the options page and
// read by the service worker and the content script.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});

  const DEFAULTS = {
    serverUrl: "ws://127.0.0.1:8765",
    token: "",
    failClosed: false, // block the send when the wording check is unavailable
  };

  async function load() {
    return { ...DEFAULTS, ...((await root.ext.local.get("settings")) || {}) };
  }

  // Team leads' selector overrides: adapter id -> selector set.
  async function loadAdapterOverrides() {
    return (await root.ext.local.get("adapterOverrides")) || {};
  }

  root.settings = { DEFAULTS, load, loadAdapterOverrides };
})();
