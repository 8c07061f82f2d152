// Content script entry (document_start): installs the send guard before the console's own
// listeners, then reads the page through its adapter and reports lines, order cards, the open
// conversation and the adapter's health to the service worker.
//
// Observation is narrow: the message list (childList/characterData) and, for conversation
// switches, class/id attribute changes; never every mutation of the page. The consoles run
// per-second countdowns in their session lists, so a one-second tick only re-finds the list (the
// console may replace it) and checks that the required selectors still match.
"use strict";

(() => {
  // Injected twice into the same page (a manifest entry plus a programmatic injection, or a
  // reinstall) the second copy must not report every line again.
  if (globalThis.kefuContentStarted) return;
  globalThis.kefuContentStarted = true;

  const { ext, adapters, settings, guard } = globalThis.kefu;
  const SCAN_COALESCE_MS = 50;
  const RETRY_MS = 1000; // the worker was restarting: report again shortly
  const TICK_MS = 1000;
  const BROKEN_AFTER_TICKS = 3; // a required key missing this many ticks in a row: 适配失效
  // When nothing matches at all the console may just have no chat open yet: wait longer.
  const ALL_BROKEN_AFTER_TICKS = 60;
  const SWITCH_ATTRIBUTES = ["class", "id", "data-conversation", "data-random", "aria-selected"];

  let adapter = null;
  let hits = {}; // key -> the candidate selector that matched last
  let focus = null;
  let observedList = null;
  let scanTimer = null;
  let misses = {};
  let health = ""; // the broken keys last reported, joined ("" = none: nothing to report)
  const reported = new Set(); // line keys the worker accepted
  const lines = new WeakMap(); // line element -> {key, line}: read once, never re-attributed
  const orderStatus = new Map(); // order -> last status reported

  const freeShipping = new Map(); // conversation -> its latest order card ships free
  const options = {
    failClosed: false,
    conversation: () => (adapter ? adapters.current(adapter, document).conversation : null),
    // Check context: a draft promising free shipping is fine where the order ships free.
    freeShipping: (conversation) => freeShipping.get(conversation) === true,
  };
  const sendGuard = new guard.Guard(options);
  sendGuard.install();

  // Reports one event; on no answer runs `undo` so the next scan reports it again.
  async function report(message, undo) {
    const answer = await ext.send(message);
    if (answer === undefined) {
      undo();
      scheduleScan(RETRY_MS);
    }
  }

  function attachList() {
    const list = adapters.find(document, adapter.selectors, "messageList", hits);
    if (list === observedList) return;
    listObserver.disconnect();
    observedList = list;
    if (list) listObserver.observe(list, { childList: true, subtree: true, characterData: true });
    scheduleScan();
  }

  function checkFocus() {
    const page = adapters.current(adapter, document, hits);
    if (page.conversation && page.conversation !== focus) {
      focus = page.conversation;
      report({ kind: "focus", conversation: focus }, () => (focus = null));
    }
    return page;
  }

  function scan() {
    scanTimer = null;
    if (!ext.alive()) return stop();
    if (!adapter) return;
    attachList();
    const page = checkFocus();
    if (observedList) readLines(observedList, page);
    for (const order of adapters.orders(adapter, document, page.conversation, page.buyer)) {
      if (order.free_shipping !== null) freeShipping.set(order.conversation, order.free_shipping);
      const previous = orderStatus.get(order.order);
      if (previous === order.status || !order.buyer) continue;
      orderStatus.set(order.order, order.status);
      report({ kind: "order", ...order }, () => orderStatus.set(order.order, previous));
    }
  }

  // New lines only. A line keeps the conversation it was first read under (JD switches its
  // header before its list). A line above the last one already known is history: prepended on
  // scroll-up, or the older part of a conversation the console re-rendered when reopened.
  function readLines(list, page) {
    const items = adapters.lineElements(adapter, list, hits);
    const fresh = [];
    let lastKnown = -1;
    items.forEach((item, position) => {
      let read = lines.get(item.element);
      if (read === undefined) {
        const line = adapters.readLine(adapter, item, page.conversation, page.buyer, hits);
        if (!line) return; // no text yet (or not a text line): looked at again on the next change
        read = { key: adapters.lineKey(adapter, line, position), line };
        lines.set(item.element, read);
      }
      if (reported.has(read.key)) lastKnown = position;
      else fresh.push({ ...read, position });
    });
    for (const { key, line, position } of fresh) {
      reported.add(key);
      if (position < lastKnown) continue;
      const { id: _id, ...fields } = line;
      report({ kind: "line", key, ...fields }, () => reported.delete(key));
    }
  }

  function checkHealth() {
    const gone = adapters.missing(adapter, document, hits);
    for (const key of adapters.HEALTH_KEYS) misses[key] = gone.includes(key) ? (misses[key] || 0) + 1 : 0;
    const nothing = adapters.HEALTH_KEYS.every((key) => key === "lines" || gone.includes(key));
    const after = nothing ? ALL_BROKEN_AFTER_TICKS : BROKEN_AFTER_TICKS;
    const broken = adapters.HEALTH_KEYS.filter((key) => misses[key] >= after);
    if (broken.join() === health) return;
    health = broken.join();
    report({ kind: "adapter_health", adapter: adapter.id, broken, hits: { ...hits } }, () => (health = null));
  }

  function tick() {
    if (!ext.alive()) return stop();
    if (!adapter) return;
    attachList();
    checkFocus();
    checkHealth();
  }

  function scheduleScan(delay = SCAN_COALESCE_MS) {
    if (scanTimer === null) scanTimer = setTimeout(scan, delay);
  }

  const listObserver = new MutationObserver(() => scheduleScan());
  const switchObserver = new MutationObserver(() => adapter && checkFocus());
  let ticker = null;

  function stop() {
    listObserver.disconnect();
    switchObserver.disconnect();
    clearInterval(ticker);
  }

  // The adapter for this page: the bundled sets, the server's set and the options' overrides,
  // layered and validated here (selectors need a DOM to validate).
  async function loadAdapter() {
    const layers = await ext.send({ kind: "adapter_sets" });
    if (!layers || layers.error) return null;
    const { adapters: all, problems } = adapters.compose(layers.builtin, layers.served, layers.overrides);
    for (const problem of problems) console.warn("kefu-assist: adapter layer ignored", problem.layer, problem.errors);
    // Which served set is in force ("builtin" when none, or when it was invalid): for support.
    const servedOk = layers.version && !problems.some((problem) => problem.layer === "served");
    document.documentElement.dataset.kefuAdapters = servedOk ? layers.version : "builtin";
    return adapters.pick(all, location);
  }

  async function apply() {
    adapter = await loadAdapter();
    sendGuard.setAdapter(adapter);
    hits = {};
    misses = {}; // `health` stays: a fixed selector reports the recovery on the next tick
    observedList = null;
    listObserver.disconnect();
    if (!adapter) return;
    document.documentElement.dataset.kefuAssist = adapter.id;
    scheduleScan();
  }

  async function start() {
    options.failClosed = (await settings.load()).failClosed;
    await apply();
    if (!adapter) return;
    switchObserver.observe(document.documentElement, {
      attributes: true, subtree: true, attributeFilter: SWITCH_ATTRIBUTES,
    });
    ticker = setInterval(tick, TICK_MS);
    const page = adapters.current(adapter, document);
    await ext.send({ kind: "page_ready", platform: page.platform, adapter: adapter.id });
  }

  // The worker is the only sender that reaches a content script's onMessage.
  ext.onMessage((message) =>
    message && message.kind === "insert" ? { ok: sendGuard.insertText(String(message.text)) } : undefined,
  );
  ext.local.watch("settings", (value) => {
    options.failClosed = Boolean(value && value.failClosed);
  });
  // A selector fixed on the server or in the options takes effect on open pages at once.
  ext.local.watch("servedAdapters", apply);
  ext.local.watch("adapterOverrides", apply);
  // A closed console is no longer broken for anyone.
  window.addEventListener("pagehide", () => {
    if (adapter && health) ext.send({ kind: "adapter_health", adapter: adapter.id, broken: [], hits: {} });
  });

  start();
})();
