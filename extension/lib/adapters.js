// Page adapters as data (after refined-github's selectors): one selector set per chat console,
// kept as JSON in extension/adapters/ (bundled) and served by the Kefu Assist server from its
// adapters directory, so a shop can fix a selector the same day a console changes its markup.
// This file validates and layers those sets and reads a page through them; see docs/extension.md.
//
// A "css" key is a selector or a list of candidate selectors. A "field" says where a value lives:
// a CSS selector string (the element's text), or {up?, sel?, attr?, re?}: `up` the closest
// ancestor matching it, `sel` relative to the base element (absent = the base itself), `attr`
// to read an attribute instead of the text, `re` a regular expression whose first group is the
// value; or {value}: a fixed value (e.g. a shop's send key); or a list of such candidates. Of candidates the first that yields something wins, and
// the reader records which one hit.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});
  if (root.adapters) return;

  // The sets bundled under extension/adapters/; a production build leaves out `demo`.
  const BUILTIN_IDS = ["dongdong", "pdd", "qianniu", "demo"];

  // Every key a selector set has; `required` ones must be present.
  const SELECTOR_KEYS = {
    platform: "field",
    conversation: "field",
    buyer: "field",
    messageList: "css",
    buyerLine: "css",
    agentLine: "css",
    autoReply: "css",
    lineText: "field",
    lineId: "field",
    lineConversation: "field",
    lineBuyer: "field",
    lineTime: "field",
    input: "css",
    sendButton: "css",
    sendKeyMode: "field",
    orderCard: "css",
    orderId: "field",
    orderStatus: "field",
    orderAmount: "field",
    orderFreeShipping: "field",
    orderBuyer: "field",
    orderConversation: "field",
  };
  const REQUIRED = [
    "conversation", "messageList", "buyerLine", "agentLine", "lineText", "input", "sendButton",
  ];
  // What the health check watches: a required part of the page that matches nothing for a few
  // seconds means the console changed under the adapter. `lines` is buyerLine/agentLine.
  const HEALTH_KEYS = ["messageList", "lines", "input", "sendButton", "conversation"];
  const ADAPTER_KEYS = ["id", "name", "platform", "hosts", "pathPrefix", "experimental", "enabled", "selectors"];

  // Order-card status words of the consoles -> protocol order status.
  const ORDER_STATUS = [
    [/^(created|待付款|未付款|等待付款|等待买家付款|待支付)/, "created"],
    [/^(paid|已付款|买家已付款|待发货|已支付)/, "paid"],
    [/^(shipped|已发货|卖家已发货|待收货)/, "shipped"],
    [/^(closed|已关闭|交易关闭|已取消)/, "closed"],
  ];

  const candidates = (value) => (value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]);

  function selectorError(selector) {
    try {
      document.createDocumentFragment().querySelector(selector);
      return null;
    } catch (_error) {
      return `无效的选择器：'${selector}'`;
    }
  }

  function fieldErrors(key, field) {
    if (typeof field === "string") return [selectorError(field)].filter(Boolean);
    if (typeof field !== "object" || field === null || Array.isArray(field)) {
      return [`${key} 的格式无效：'${JSON.stringify(field)}'`];
    }
    const errors = [];
    for (const part of Object.keys(field)) {
      if (!["up", "sel", "attr", "re", "value"].includes(part)) errors.push(`${key} 含未知字段：'${part}'`);
      else if (typeof field[part] !== "string") errors.push(`${key}.${part} 必须是字符串`);
    }
    for (const part of ["up", "sel"]) {
      if (typeof field[part] === "string") errors.push(...[selectorError(field[part])].filter(Boolean));
    }
    if (typeof field.re === "string") {
      try {
        new RegExp(field.re);
      } catch (_error) {
        errors.push(`无效的正则表达式：'${field.re}'`);
      }
    }
    return errors;
  }

  // Returns the problems of a selector set as Chinese messages; [] means valid.
  function validate(selectors) {
    if (typeof selectors !== "object" || selectors === null || Array.isArray(selectors)) {
      return ["选择器配置必须是 JSON 对象"];
    }
    const errors = [];
    for (const key of Object.keys(selectors)) {
      if (!(key in SELECTOR_KEYS)) errors.push(`未知字段：'${key}'`);
    }
    for (const key of REQUIRED) {
      const value = selectors[key];
      if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) {
        errors.push(`缺少必填字段：'${key}'`);
      }
    }
    for (const [key, kind] of Object.entries(SELECTOR_KEYS)) {
      for (const value of candidates(selectors[key])) {
        if (kind === "css" && typeof value !== "string") errors.push(`${key} 必须是选择器字符串`);
        else if (kind === "css") errors.push(...[selectorError(value)].filter(Boolean));
        else errors.push(...fieldErrors(key, value));
      }
    }
    return errors;
  }

  // The problems of a whole adapter entry (as the server serves them); [] means valid.
  function validateAdapter(adapter) {
    if (typeof adapter !== "object" || adapter === null || Array.isArray(adapter)) return ["适配配置必须是 JSON 对象"];
    const errors = Object.keys(adapter).filter((key) => !ADAPTER_KEYS.includes(key)).map((key) => `未知字段：'${key}'`);
    if (typeof adapter.id !== "string" || !adapter.id) errors.push("缺少必填字段：'id'");
    for (const key of ["name", "platform", "pathPrefix"]) {
      if (adapter[key] !== undefined && typeof adapter[key] !== "string") errors.push(`${key} 必须是字符串`);
    }
    if (adapter.hosts !== undefined && !(Array.isArray(adapter.hosts) && adapter.hosts.every((h) => typeof h === "string"))) {
      errors.push("hosts 必须是字符串列表");
    }
    return [...errors, ...validate(adapter.selectors)];
  }

  // Lays `over` (a served set or an override) on `base`: entries by id, selectors key by key.
  function layer(base, over) {
    const merged = base.map((adapter) => ({ ...adapter, selectors: { ...adapter.selectors } }));
    for (const entry of over || []) {
      const at = merged.findIndex((adapter) => adapter.id === entry.id);
      if (at < 0) merged.push(entry);
      else merged[at] = { ...merged[at], ...entry, selectors: { ...merged[at].selectors, ...(entry.selectors || {}) } };
    }
    return merged;
  }

  // The adapters in force: the built-in sets, the server's set over them, the team lead's
  // overrides (id -> selectors) on top. A layer that makes any set invalid is left out as a
  // whole and its problems returned, so a broken served set never replaces working selectors.
  function compose(builtin, served, overrides) {
    const problems = [];
    let adapters = builtin;
    const layers = [
      ["served", served || []],
      ["overrides", Object.entries(overrides || {}).map(([id, selectors]) => ({ id, selectors }))],
    ];
    for (const [name, entries] of layers) {
      if (!entries.length) continue;
      const candidate = layer(adapters, entries);
      const errors = candidate.flatMap((adapter) => validateAdapter(adapter).map((error) => `${adapter.id}: ${error}`));
      if (errors.length) problems.push({ layer: name, errors });
      else adapters = candidate;
    }
    return { adapters, problems };
  }

  function pick(adapters, location) {
    return (
      adapters.find(
        (adapter) =>
          adapter.enabled !== false &&
          (adapter.hosts || []).includes(location.hostname) &&
          location.pathname.startsWith(adapter.pathPrefix || "/"),
      ) || null
    );
  }

  // Rendered (not display:none, not in a hidden pane): consoles keep inactive panes in the DOM.
  const visible = (element) => element.getClientRects().length > 0;

  // The element a css key finds below `base`: of each candidate the first visible match, else the
  // first match; candidates in order. `hits` (optional) records the winning selector by key.
  function find(base, selectors, key, hits) {
    for (const selector of candidates(selectors[key])) {
      const all = base.querySelectorAll(selector);
      if (!all.length) continue;
      if (hits) hits[key] = selector;
      return [...all].find(visible) || all[0];
    }
    return null;
  }

  // Every element a css key finds below `base`, by its first candidate that finds any.
  function findAll(base, selectors, key, hits) {
    for (const selector of candidates(selectors[key])) {
      const all = base.querySelectorAll(selector);
      if (!all.length) continue;
      if (hits) hits[key] = selector;
      return [...all];
    }
    return [];
  }

  function readOne(base, spec) {
    if (spec.value !== undefined) return spec.value; // a fixed value: what the shop knows
    const from = spec.up ? base.closest(spec.up) : base;
    const element = from && (spec.sel ? from.querySelector(spec.sel) : from);
    if (!element) return null;
    let value = spec.attr ? element.getAttribute(spec.attr) : element.textContent;
    if (value === null) return null;
    value = value.trim();
    if (spec.re) {
      const found = new RegExp(spec.re).exec(value);
      value = found ? (found[1] ?? found[0]) : null;
    }
    return value === "" ? null : value;
  }

  // Reads a field below `base`; null when no candidate yields a value. Text is trimmed.
  function readField(base, field, hits, key) {
    if (!base) return null;
    for (const candidate of candidates(field)) {
      const value = readOne(base, typeof candidate === "string" ? { sel: candidate } : candidate);
      if (value !== null) {
        if (hits && key) hits[key] = candidate;
        return value;
      }
    }
    return null;
  }

  function orderStatus(text) {
    if (!text) return null;
    for (const [pattern, status] of ORDER_STATUS) if (pattern.test(text)) return status;
    return null;
  }

  // "¥1,289.00" -> "1289.00": the protocol carries amounts as decimal strings.
  function parseAmount(text) {
    if (!text) return null;
    const found = /\d+(?:\.\d+)?/.exec(text.replace(/,/g, ""));
    return found ? found[0] : null;
  }

  // The consoles show times in China Standard Time (UTC+8, no daylight saving).
  const SHANGHAI_S = 8 * 3600;
  const shanghai = (y, mo, d, h, mi, s) => Date.UTC(y, mo - 1, d, h, mi, s) / 1000 - SHANGHAI_S;
  const FULL = /(\d{4})[年/-](\d{1,2})[月/-](\d{1,2})日?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?/;
  const NO_YEAR = /^(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/;
  const TIME_ONLY = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

  // A console timestamp -> epoch seconds, or null. Epoch seconds/milliseconds; "2026年09月08日
  // 17:12:14" (PDD) or "2026-09-08 17:12:14"; "06-12 19:31:56" (JD: no year, so the year of `now`,
  // or the year before when that would lie ahead); "19:31:56" (today, or yesterday if ahead).
  function parseTime(text, now = Date.now() / 1000) {
    if (!text) return null;
    const value = Number(text);
    if (Number.isFinite(value)) return value > 1e11 ? value / 1000 : value > 0 ? value : null;
    let found = FULL.exec(text);
    if (found) {
      const [, y, mo, d, h, mi, s] = found.map(Number);
      return shanghai(y, mo, d, h, mi, s || 0);
    }
    const today = new Date((now + SHANGHAI_S) * 1000);
    const year = today.getUTCFullYear();
    if ((found = NO_YEAR.exec(text))) {
      const [, mo, d, h, mi, s] = found.map(Number);
      const ts = shanghai(year, mo, d, h, mi, s || 0);
      return ts > now + 86400 ? shanghai(year - 1, mo, d, h, mi, s || 0) : ts;
    }
    if ((found = TIME_ONLY.exec(text))) {
      const [, h, mi, s] = found.map(Number);
      const ts = shanghai(year, today.getUTCMonth() + 1, today.getUTCDate(), h, mi, s || 0);
      return ts > now + 60 ? ts - 86400 : ts;
    }
    return null;
  }

  // The line elements of a message list in page order, each with its direction and robot mark.
  function lineElements(adapter, list, hits) {
    const s = adapter.selectors;
    const buyer = new Set(findAll(list, s, "buyerLine", hits));
    const agent = new Set(findAll(list, s, "agentLine", hits));
    const auto = new Set(findAll(list, s, "autoReply", hits));
    const order = (a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1);
    return [...new Set([...buyer, ...agent])]
      .sort(order)
      .map((element) => ({ element, from: buyer.has(element) ? "buyer" : "agent", auto: auto.has(element) }));
  }

  // What one line element says; `conversation`/`buyer` are the page's current ones, used when
  // the line carries none. Null for a line without text (an image, a card).
  function readLine(adapter, { element, from, auto }, conversation, buyer, hits) {
    const s = adapter.selectors;
    const text = readField(element, s.lineText, hits, "lineText");
    const lineConversation = readField(element, s.lineConversation, hits, "lineConversation") || conversation;
    if (!text || !lineConversation) return null;
    return {
      id: readField(element, s.lineId, hits, "lineId"),
      conversation: lineConversation,
      buyer: readField(element, s.lineBuyer, hits, "lineBuyer") ||
        (lineConversation === conversation ? buyer : null) || lineConversation,
      from,
      text,
      ts: parseTime(readField(element, s.lineTime, hits, "lineTime")),
      auto,
    };
  }

  // A line's key: the console's id when it has one (so a line re-rendered under another header
  // is still the same line), else its place in its conversation and its text.
  function lineKey(adapter, line, index) {
    return line.id ? `${adapter.id}|${line.id}` : `${line.conversation}|${line.from}#${index}|${line.text}`;
  }

  function readOrder(adapter, card, conversation, buyer) {
    const s = adapter.selectors;
    const order = readField(card, s.orderId);
    const status = orderStatus(readField(card, s.orderStatus));
    if (!order || !status) return null;
    return {
      order,
      status,
      amount: parseAmount(readField(card, s.orderAmount)),
      free_shipping: s.orderFreeShipping ? readField(card, s.orderFreeShipping) !== null : null,
      buyer: readField(card, s.orderBuyer) || buyer,
      conversation: readField(card, s.orderConversation) || conversation,
    };
  }

  function orders(adapter, doc, conversation, buyer) {
    return findAll(doc, adapter.selectors, "orderCard")
      .map((card) => readOrder(adapter, card, conversation, buyer))
      .filter(Boolean);
  }

  // The page's current conversation, buyer and platform.
  function current(adapter, doc, hits) {
    const s = adapter.selectors;
    const conversation = readField(doc, s.conversation, hits, "conversation");
    return {
      conversation,
      buyer: readField(doc, s.buyer, hits, "buyer") || conversation,
      platform: readField(doc, s.platform) || adapter.platform,
    };
  }

  // Everything a page shows, read statelessly (the fixture tests compare it with exact values;
  // the content script adds what needs memory: history order, conversation switches).
  function snapshot(adapter, doc) {
    const page = current(adapter, doc);
    const list = find(doc, adapter.selectors, "messageList");
    const counters = new Map();
    const lines = [];
    for (const item of list ? lineElements(adapter, list) : []) {
      const line = readLine(adapter, item, page.conversation, page.buyer);
      if (!line) continue;
      const index = (counters.get(line.conversation) || 0) + 1;
      counters.set(line.conversation, index);
      const { id: _id, ...rest } = line;
      lines.push({ key: lineKey(adapter, line, index), ...rest });
    }
    return { ...page, lines, orders: orders(adapter, doc, page.conversation, page.buyer) };
  }

  // Match counts of each selector on a page: what the fixture tests compare with expected numbers.
  function countMatches(selectors, doc) {
    const list = find(doc, selectors, "messageList");
    const within = (key) => (list ? findAll(list, selectors, key).length : 0);
    return {
      messageList: findAll(doc, selectors, "messageList").length,
      buyerLine: within("buyerLine"),
      agentLine: within("agentLine"),
      autoReply: within("autoReply"),
      input: findAll(doc, selectors, "input").length,
      sendButton: findAll(doc, selectors, "sendButton").length,
      orderCard: findAll(doc, selectors, "orderCard").length,
    };
  }

  const matchesAny = (base, selectors, key) =>
    candidates(selectors[key]).some((selector) => base.querySelector(selector) !== null);

  // Which required parts of the page match nothing right now (see HEALTH_KEYS).
  function missing(adapter, doc, hits) {
    const s = adapter.selectors;
    const list = find(doc, s, "messageList", hits);
    const gone = [];
    if (!list) gone.push("messageList");
    // An empty list is a new conversation, one notice row a system message; rows but no line
    // among them is a broken line selector.
    else if (list.children.length >= 3 && !["buyerLine", "agentLine"].some((key) => matchesAny(list, s, key))) {
      gone.push("lines");
    }
    if (!find(doc, s, "input", hits)) gone.push("input");
    if (!find(doc, s, "sendButton", hits)) gone.push("sendButton");
    if (!readField(doc, s.conversation, hits, "conversation")) gone.push("conversation");
    return gone;
  }

  // The bundled sets, read from the extension's own files (worker and options page only).
  async function loadBuiltin() {
    const loaded = await Promise.all(
      BUILTIN_IDS.map(async (id) => {
        try {
          const response = await fetch(root.ext.url(`adapters/${id}.json`));
          return response.ok ? await response.json() : null;
        } catch (_error) {
          return null; // left out of this build
        }
      }),
    );
    return loaded.filter(Boolean);
  }

  root.adapters = {
    SELECTOR_KEYS, REQUIRED, HEALTH_KEYS, candidates, validate, validateAdapter, compose, pick, find, findAll,
    readField, current, lineElements, readLine, lineKey, orders, snapshot, countMatches, missing,
    orderStatus, parseTime, loadBuiltin,
  };
})();
