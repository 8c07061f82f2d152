// Content script entry: picks the page adapter for this console, reports what the page shows
// (lines, order cards, the open conversation) to the service worker, and installs the send guard.
"use strict";

(() => {
  // Injected twice into the same page (a manifest entry plus a programmatic injection, or a
  // reinstall) the second copy must not report every line again.
  if (globalThis.kefuContentStarted) return;
  globalThis.kefuContentStarted = true;

  const { ext, adapters, settings, guard } = globalThis.kefu;
  const SCAN_COALESCE_MS = 50;
  const RETRY_MS = 1000; // the worker was restarting: report again shortly

  async function start() {
    const adapter = adapters.pick(adapters.withOverrides(await settings.loadAdapterOverrides()), location);
    if (!adapter) return;
    document.documentElement.dataset.kefuAssist = adapter.id;

    const prefs = await settings.load();
    const options = {
      failClosed: prefs.failClosed,
      conversation: () => adapters.readField(document, adapter.selectors.conversation),
    };
    const sendGuard = new guard.Guard(adapter, options);
    sendGuard.install();

    const reported = new Set(); // line keys the worker accepted
    const orderStatus = new Map(); // order -> last status reported
    let focus = null;
    let scanTimer = null;

    // Reports one event; on no answer forgets `undo` so the next scan reports it again.
    async function report(message, undo) {
      const answer = await ext.send(message);
      if (answer === undefined) {
        undo();
        scheduleScan(RETRY_MS);
      }
    }

    function scan() {
      scanTimer = null;
      if (!ext.alive()) return observer.disconnect();
      const page = adapters.snapshot(adapter, document);
      if (page.conversation && page.conversation !== focus) {
        focus = page.conversation;
        report({ kind: "focus", conversation: focus }, () => (focus = null));
      }
      for (const line of page.lines) {
        if (reported.has(line.key)) continue;
        reported.add(line.key);
        report({ kind: "line", ...line }, () => reported.delete(line.key));
      }
      for (const order of page.orders) {
        const previous = orderStatus.get(order.order);
        if (previous === order.status || !order.buyer) continue;
        orderStatus.set(order.order, order.status);
        report({ kind: "order", ...order }, () => orderStatus.set(order.order, previous));
      }
    }

    function scheduleScan(delay = SCAN_COALESCE_MS) {
      if (scanTimer === null) scanTimer = setTimeout(scan, delay);
    }

    const observer = new MutationObserver(() => scheduleScan());
    observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });

    // The worker is the only sender that reaches a content script's onMessage.
    ext.onMessage((message) =>
      message && message.kind === "insert" ? { ok: sendGuard.insertText(String(message.text)) } : undefined,
    );
    ext.local.watch("settings", (value) => {
      options.failClosed = Boolean(value && value.failClosed);
    });

    const initial = adapters.snapshot(adapter, document);
    await ext.send({ kind: "page_ready", platform: initial.platform, adapter: adapter.id });
    scan();
  }

  start();
})();
