// The trust boundary of the service worker. Content scripts run inside marketplace pages and may
// only report page events; the extension's own pages (side panel) may also act for the agent.
// Anything else is refused, and page payloads are checked before they reach the server.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});

  const MAX_TEXT = 5000; // longer than any chat line; stops a hostile page from flooding frames

  class Refused extends Error {}

  // Returns message[name] when it is a non-empty string within MAX_TEXT, else throws Refused.
  function text(message, name) {
    const value = message[name];
    if (typeof value !== "string" || value === "" || value.length > MAX_TEXT) {
      throw new Refused(`字段无效：'${name}'`);
    }
    return value;
  }

  function optionalText(message, name) {
    return message[name] === undefined || message[name] === null ? null : text(message, name);
  }

  function optionalNumber(message, name) {
    const value = message[name];
    if (value === undefined || value === null) return null;
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Refused(`字段无效：'${name}'`);
    return value;
  }

  function oneOf(message, name, allowed) {
    const value = message[name];
    if (!allowed.includes(value)) throw new Refused(`字段无效：'${name}'`);
    return value;
  }

  // pageHandlers serve content scripts, panelHandlers the extension's pages; each maps a
  // message `kind` to handler(message, sender).
  function createRouter({ pageHandlers, panelHandlers }) {
    return async (message, sender) => {
      const kind = message && message.kind;
      const handlers = root.ext.fromExtensionPage(sender) ? panelHandlers : pageHandlers;
      if (typeof kind !== "string" || !Object.hasOwn(handlers, kind)) {
        return { error: `不允许的消息：'${String(kind)}'` };
      }
      try {
        return await handlers[kind](message, sender);
      } catch (error) {
        if (error instanceof Refused) return { error: error.message };
        throw error;
      }
    };
  }

  root.router = { createRouter, text, optionalText, optionalNumber, oneOf };
})();
