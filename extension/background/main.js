// Service worker entry: owns the websocket, turns page events into protocol frames, applies server
// frames to the panel's view, and keeps both in chrome.storage.session so a restarted worker (or
// a reopened panel) carries on where it stopped.
"use strict";

importScripts("../lib/ext.js", "../lib/settings.js", "../lib/adapters.js", "state.js", "socket.js", "router.js");

const { ext, settings, adapters, state: viewState, socket, router } = globalThis.kefu;

const PLATFORMS = ["taobao", "tmall", "jd", "pdd"];
const CHECK_DEADLINE_MS = 300; // past this the agent sees 检查不可用, never a silent pass
const ACK_DEADLINE_MS = 5000;
const MAX_OUTBOX = 1000; // page events kept while disconnected, oldest dropped first
const MAX_SEEN = 5000; // line keys remembered so a reloaded console page is not re-reported

let view = viewState.initialState();
// outbox: frames waiting for a connection; seen: reported line/order keys; consoleTab: where
// the chat console runs (suggestions are inserted there); platform: what `hello` says.
let worker = { outbox: [], seen: [], consoleTab: null, platform: "taobao" };
let seen = new Set();
let currentSettings = { ...settings.DEFAULTS };
let persistQueued = false;

const nowSeconds = () => Date.now() / 1000;
const builtinAdapters = adapters.loadBuiltin();
const MAX_HIT = 300; // characters of one reported selector

// Drops null/undefined members: optional protocol fields are absent, never null.
function compact(frame) {
  return Object.fromEntries(Object.entries(frame).filter(([, value]) => value !== null && value !== undefined));
}

function persist() {
  if (persistQueued) return;
  persistQueued = true;
  setTimeout(() => {
    persistQueued = false;
    ext.session.set("view", view);
    ext.session.set("worker", worker);
  }, 0);
}

const connection = new socket.Connection({
  hello: () =>
    compact({
      type: "hello",
      token: currentSettings.token,
      platform: worker.platform,
      client: `kefu-assist-extension/${ext.version()}`,
      resume: view.seq > 0 ? view.seq : null,
    }),
  onFrame(frame) {
    const changed = viewState.applyFrame(view, frame, nowSeconds());
    if (frame.type === "welcome") flushOutbox();
    // The server's adapter set: content scripts watch this key and re-apply at once.
    if (frame.type === "welcome") syncAdapters(frame.adapters);
    if (frame.type === "adapters" && frame.ref === undefined) keepAdapters(frame);
    if (changed) persist();
  },
  onStatus(status, detail) {
    viewState.setStatus(view, status, detail);
    persist();
  },
});

// The server's adapter set: content scripts watch this key and re-apply at once.
function keepAdapters(frame) {
  if (frame.version) ext.local.set("servedAdapters", { version: frame.version, adapters: frame.adapters });
  else ext.local.remove("servedAdapters");
}

// After welcome: fetch the server's set when ours is not the version it serves.
async function syncAdapters(version) {
  const kept = await ext.local.get("servedAdapters");
  if (!version) {
    if (kept) ext.local.remove("servedAdapters");
    return;
  }
  if (kept && kept.version === version) return;
  const answer = await connection.request({ type: "get_adapters" }, ACK_DEADLINE_MS);
  if (answer && answer.type === "adapters") keepAdapters(answer);
}

function configureConnection() {
  connection.configure({ url: currentSettings.serverUrl, token: currentSettings.token, platform: worker.platform });
}

function flushOutbox() {
  if (view.focus) connection.send({ type: "focus", conversation: view.focus });
  // A restarted server knows nothing of a broken adapter: say it again.
  if (view.adapterHealth) connection.send({ type: "adapter_health", ...view.adapterHealth });
  while (worker.outbox.length && connection.send(worker.outbox[0])) worker.outbox.shift();
  persist();
}

// Sends a page event now, or keeps it until the next welcome so nothing seen is lost.
function deliver(frame) {
  const withId = { ...frame, id: connection.newId() };
  if (connection.send(withId)) return;
  worker.outbox.push(withId);
  if (worker.outbox.length > MAX_OUTBOX) worker.outbox.shift();
  persist();
}

// True the first time a key is seen.
function firstSighting(key) {
  if (seen.has(key)) return false;
  seen.add(key);
  worker.seen.push(key);
  if (worker.seen.length > MAX_SEEN) seen.delete(worker.seen.shift());
  return true;
}

// Page clock (local) -> server clock.
function serverTime(localTs) {
  return (localTs ?? nowSeconds()) + view.clockOffset;
}

const pageHandlers = {
  page_ready(message, sender) {
    worker.consoleTab = sender.tab?.id ?? null;
    const platform = message.platform;
    if (PLATFORMS.includes(platform) && platform !== worker.platform) {
      worker.platform = platform;
      configureConnection();
    }
    persist();
    return { ok: true };
  },

  line(message, sender) {
    const line = {
      conversation: router.text(message, "conversation"),
      buyer: router.text(message, "buyer"),
      from: router.oneOf(message, "from", ["buyer", "agent"]),
      text: router.text(message, "text"),
      ts: router.optionalNumber(message, "ts"),
      auto: message.auto === true,
    };
    if (!firstSighting(`line|${router.text(message, "key")}`)) return { ok: true, duplicate: true };
    worker.consoleTab = sender.tab?.id ?? worker.consoleTab;
    viewState.applyLine(view, line, nowSeconds());
    deliver(compact({ type: "message", ...line, ts: serverTime(line.ts), auto: line.auto || null }));
    persist();
    return { ok: true };
  },

  order(message) {
    const order = {
      order: router.text(message, "order"),
      status: router.oneOf(message, "status", ["created", "paid", "closed", "shipped"]),
      buyer: router.text(message, "buyer"),
      conversation: router.optionalText(message, "conversation"),
      amount: router.optionalText(message, "amount"),
    };
    if (!firstSighting(`order|${order.order}|${order.status}`)) return { ok: true, duplicate: true };
    deliver(compact({ type: "order", ...order, ts: serverTime(null) }));
    return { ok: true };
  },

  focus(message, sender) {
    const conversation = router.text(message, "conversation");
    worker.consoleTab = sender.tab?.id ?? worker.consoleTab;
    if (conversation !== view.focus) {
      view.focus = conversation;
      connection.send({ type: "focus", conversation });
      persist();
    }
    return { ok: true };
  },

  async check(message) {
    const text = router.text(message, "text");
    const conversation = router.optionalText(message, "conversation");
    const answer = await connection.request(
      compact({
        type: "check", text, conversation, final: message.final === true, free_shipping: message.free_shipping === true || null,
      }),
      view.settings?.check_timeout_ms ?? CHECK_DEADLINE_MS,
    );
    // Fail-closed is the agent's option or the shop's policy (the welcome's settings).
    const failClosed = currentSettings.failClosed || view.settings?.fail_closed === true;
    const result =
      answer && answer.type === "check_result"
        ? { ok: answer.ok, violations: answer.violations }
        : { unavailable: true, violations: [], failClosed };
    view.draft = { conversation, text, ...result };
    persist();
    return result;
  },

  // The layers the content script composes its adapter from (it validates: it has a DOM).
  async adapter_sets() {
    const [builtin, served, overrides] = await Promise.all([
      builtinAdapters,
      ext.local.get("servedAdapters"),
      settings.loadAdapterOverrides(),
    ]);
    return { builtin, served: served ? served.adapters : [], version: served ? served.version : null, overrides };
  },

  adapter_health(message) {
    const adapter = router.text(message, "adapter");
    const broken = message.broken;
    if (!Array.isArray(broken) || !broken.every((key) => adapters.HEALTH_KEYS.includes(key))) {
      return { error: "字段无效：'broken'" };
    }
    const hits = {};
    for (const [key, hit] of Object.entries(message.hits || {})) {
      const shown = typeof hit === "string" ? hit : JSON.stringify(hit);
      if (key in adapters.SELECTOR_KEYS && shown.length <= MAX_HIT) hits[key] = shown;
    }
    view.adapterHealth = broken.length ? { adapter, broken } : null;
    deliver({ type: "adapter_health", adapter, broken, hits });
    persist();
    return { ok: true };
  },

  clear_draft() {
    view.draft = null;
    persist();
    return { ok: true };
  },
};

const panelHandlers = {
  wake: () => ({ status: view.status }),

  reconnect() {
    connection.reconnectNow();
    return { ok: true };
  },

  async nudge_ack(message) {
    const nudge = router.text(message, "nudge");
    const action = router.oneOf(message, "action", ["sent", "dismissed", "snoozed"]);
    const answer = await connection.request(
      compact({ type: "nudge_ack", nudge, action, snooze_s: router.optionalNumber(message, "snooze_s") }),
      ACK_DEADLINE_MS,
    );
    if (!answer) return { ok: false, error: "未连接，稍后再试" };
    if (answer.type === "error") return { ok: false, error: answer.error };
    view.nudges = view.nudges.filter((item) => item.nudge !== nudge);
    persist();
    return { ok: true };
  },

  // Puts a suggestion (or a nudge's text) into the console's input box.
  async insert_text(message) {
    const text = router.text(message, "text");
    const phrase = router.optionalText(message, "phrase");
    const conversation = router.optionalText(message, "conversation");
    if (worker.consoleTab === null) return { ok: false, error: "没有打开的聊天页面" };
    const answer = await ext.sendToTab(worker.consoleTab, { kind: "insert", text });
    if (!answer || !answer.ok) return { ok: false, error: "无法写入输入框" };
    if (phrase && conversation) deliver({ type: "suggestion_used", phrase, conversation });
    return { ok: true };
  },
};

const route = router.createRouter({ pageHandlers, panelHandlers });

const loaded = (async () => {
  const [savedView, savedWorker, savedSettings] = await Promise.all([
    ext.session.get("view"),
    ext.session.get("worker"),
    settings.load(),
  ]);
  // A restarted worker has no socket yet whatever the saved status said.
  if (savedView) view = { ...view, ...savedView, status: "disconnected", detail: "" };
  if (savedWorker) worker = { ...worker, ...savedWorker };
  seen = new Set(worker.seen);
  currentSettings = savedSettings;
  configureConnection();
})();

ext.onMessage(async (message, sender) => {
  await loaded;
  return route(message, sender);
});

ext.local.watch("settings", async () => {
  await loaded;
  currentSettings = await settings.load();
  configureConnection();
});

ext.openPanelOnActionClick();
