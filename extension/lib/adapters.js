// Page adapters as data (after refined-github's selectors): one selector set per chat console,
// plus the small reader that turns a page into conversations, lines and order cards.
// Team leads override a console's `selectors` in the options page; see docs/extension.md.
//
// A "field" says where a value lives: a CSS selector string (the element's text), or
// {sel?, attr?, re?}: `sel` relative to the base element (absent = the base itself), `attr` to read
// an attribute instead of the text, `re` a regular expression whose first group is the value.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});
  if (root.adapters) return;

  const DEFAULTS = [
    {
      id: "demo",
      name: "演示控制台",
      platform: "taobao",
      hosts: ["127.0.0.1", "localhost"],
      pathPrefix: "/demo",
      selectors: {
        platform: { sel: "body", attr: "data-platform" },
        conversation: { sel: ".chat-header", attr: "data-conversation" },
        buyer: { sel: ".chat-header", attr: "data-buyer" },
        messageList: "[role=log]",
        buyerLine: ".line[data-from=buyer]",
        agentLine: ".line[data-from=agent]",
        autoReply: ".line[data-auto]",
        lineText: ".text",
        lineId: { attr: "data-id" },
        lineConversation: { attr: "data-conversation" },
        lineBuyer: { attr: "data-buyer" },
        lineTime: { attr: "data-ts" },
        input: "textarea[name=agent-input]",
        sendButton: "textarea[name=agent-input] + button",
        orderCard: "[role=log] .order-card",
        orderId: { attr: "data-order" },
        orderStatus: { attr: "data-status" },
        orderAmount: { attr: "data-amount" },
        orderBuyer: { attr: "data-buyer" },
        orderConversation: { attr: "data-conversation" },
      },
    },
    {
      id: "qianniu",
      name: "千牛网页版（淘宝/天猫）",
      platform: "taobao",
      hosts: ["qn.taobao.com", "myseller.taobao.com"],
      pathPrefix: "/",
      selectors: {
        platform: null,
        conversation: { sel: ".chat-header .nick" },
        buyer: { sel: ".chat-header .nick" },
        messageList: ".message-list",
        buyerLine: ".msg-item.msg-left",
        agentLine: ".msg-item.msg-right",
        autoReply: ".msg-item.msg-auto",
        lineText: ".msg-text",
        lineId: { attr: "data-msgid" },
        lineConversation: null,
        lineBuyer: null,
        lineTime: null,
        input: ".editor-box textarea",
        sendButton: ".editor-footer .send-btn",
        orderCard: ".order-card",
        orderId: { sel: ".order-no", re: "(\\d{6,})" },
        orderStatus: ".order-status",
        orderAmount: ".order-price",
        orderBuyer: { sel: ".order-buyer" },
        orderConversation: null,
      },
    },
    {
      id: "dongdong",
      name: "咚咚网页版（京东）",
      platform: "jd",
      hosts: ["dd.jd.com", "dongdong.jd.com"],
      pathPrefix: "/",
      selectors: {
        platform: null,
        conversation: { sel: ".session-item.current", attr: "data-pin" },
        buyer: { sel: ".session-item.current .customer-name" },
        messageList: "#msgList",
        buyerLine: ".msg-customer",
        agentLine: ".msg-waiter",
        autoReply: ".msg-waiter.robot",
        lineText: ".msg-content",
        lineId: { attr: "data-mid" },
        lineConversation: null,
        lineBuyer: null,
        lineTime: { attr: "data-time" },
        input: "#chatInput[contenteditable=true]",
        sendButton: "#sendBtn",
        orderCard: ".order-panel .order-row",
        orderId: { attr: "data-order-id" },
        orderStatus: ".order-state",
        orderAmount: ".order-money",
        orderBuyer: { sel: ".order-customer" },
        orderConversation: null,
      },
    },
    {
      id: "pdd",
      name: "拼多多商家聊天",
      platform: "pdd",
      hosts: ["mms.pinduoduo.com"],
      pathPrefix: "/chat-merchant",
      selectors: {
        platform: null,
        conversation: { sel: ".chat-list .chat-item.active", attr: "data-uid" },
        buyer: { sel: ".chat-list .chat-item.active .chat-nickname" },
        messageList: ".merchant-chat .msg-list",
        buyerLine: "li.buyer-item",
        agentLine: "li.seller-item",
        autoReply: "li.seller-item.is-robot",
        lineText: ".msg-content-box",
        lineId: { attr: "data-msg-id" },
        lineConversation: null,
        lineBuyer: null,
        lineTime: { attr: "data-ts" },
        input: ".chat-editor textarea",
        sendButton: ".chat-editor .send-btn",
        orderCard: ".order-info-card",
        orderId: { sel: ".order-sn", re: "(\\d{6}-\\d{6,})" },
        orderStatus: ".order-status-text",
        orderAmount: ".order-amount",
        orderBuyer: { sel: ".order-receiver" },
        orderConversation: null,
      },
    },
  ];

  // Every key a selector set has; `required` ones must be non-empty.
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
    orderCard: "css",
    orderId: "field",
    orderStatus: "field",
    orderAmount: "field",
    orderBuyer: "field",
    orderConversation: "field",
  };
  const REQUIRED = [
    "conversation", "messageList", "buyerLine", "agentLine", "lineText", "input", "sendButton",
  ];

  // Order-card status words of the consoles -> protocol order status.
  const ORDER_STATUS = [
    [/^(created|待付款|未付款|等待付款|等待买家付款|待支付)/, "created"],
    [/^(paid|已付款|买家已付款|待发货|已支付)/, "paid"],
    [/^(shipped|已发货|卖家已发货|待收货)/, "shipped"],
    [/^(closed|已关闭|交易关闭|已取消)/, "closed"],
  ];

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
    if (typeof field !== "object" || Array.isArray(field)) return [`${key} 的格式无效：'${JSON.stringify(field)}'`];
    const errors = [];
    for (const part of Object.keys(field)) {
      if (!["sel", "attr", "re"].includes(part)) errors.push(`${key} 含未知字段：'${part}'`);
      else if (typeof field[part] !== "string") errors.push(`${key}.${part} 必须是字符串`);
    }
    if (typeof field.sel === "string") errors.push(...[selectorError(field.sel)].filter(Boolean));
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
      if (selectors[key] === undefined || selectors[key] === null || selectors[key] === "") {
        errors.push(`缺少必填字段：'${key}'`);
      }
    }
    for (const [key, kind] of Object.entries(SELECTOR_KEYS)) {
      const value = selectors[key];
      if (value === undefined || value === null) continue;
      if (kind === "css" && typeof value !== "string") errors.push(`${key} 必须是选择器字符串`);
      else if (kind === "css") errors.push(...[selectorError(value)].filter(Boolean));
      else errors.push(...fieldErrors(key, value));
    }
    return errors;
  }

  // Reads a field below `base`; null when absent. Text is whitespace-trimmed.
  function readField(base, field) {
    if (!base || field === null || field === undefined) return null;
    const spec = typeof field === "string" ? { sel: field } : field;
    const element = spec.sel ? base.querySelector(spec.sel) : base;
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

  // Console timestamps come as epoch seconds or milliseconds; null when unreadable.
  function parseTime(text) {
    const value = Number(text);
    if (!text || !Number.isFinite(value) || value <= 0) return null;
    return value > 1e11 ? value / 1000 : value;
  }

  function pick(adapters, location) {
    return (
      adapters.find(
        (adapter) =>
          adapter.hosts.includes(location.hostname) && location.pathname.startsWith(adapter.pathPrefix),
      ) || null
    );
  }

  // The adapters with a team lead's overrides (a map id -> selectors) applied.
  function withOverrides(overrides) {
    return DEFAULTS.map((adapter) => {
      const custom = overrides && overrides[adapter.id];
      return custom ? { ...adapter, selectors: custom } : adapter;
    });
  }

  function count(doc, selector) {
    return selector ? doc.querySelectorAll(selector).length : 0;
  }

  // Match counts of each selector on a page: what the fixture tests compare with expected numbers.
  function countMatches(selectors, doc) {
    const list = doc.querySelector(selectors.messageList);
    const within = (selector) => (list && selector ? list.querySelectorAll(selector).length : 0);
    return {
      messageList: count(doc, selectors.messageList),
      buyerLine: within(selectors.buyerLine),
      agentLine: within(selectors.agentLine),
      autoReply: within(selectors.autoReply),
      input: count(doc, selectors.input),
      sendButton: count(doc, selectors.sendButton),
      orderCard: count(doc, selectors.orderCard),
    };
  }

  // Everything the content script reports, read from the page as it is now.
  function snapshot(adapter, doc) {
    const s = adapter.selectors;
    const conversation = readField(doc, s.conversation);
    const buyer = readField(doc, s.buyer) || conversation;
    const platform = readField(doc, s.platform) || adapter.platform;
    const list = doc.querySelector(s.messageList);
    const lines = [];
    if (list) {
      const buyerLines = new Set(list.querySelectorAll(s.buyerLine));
      const agentLines = new Set(list.querySelectorAll(s.agentLine));
      const autoLines = new Set(s.autoReply ? list.querySelectorAll(s.autoReply) : []);
      const counters = new Map();
      for (const element of list.querySelectorAll(`${s.buyerLine}, ${s.agentLine}`)) {
        const from = buyerLines.has(element) ? "buyer" : agentLines.has(element) ? "agent" : null;
        const text = readField(element, s.lineText);
        const lineConversation = readField(element, s.lineConversation) || conversation;
        if (!from || !text || !lineConversation) continue;
        // Without a console id, a line is known by its place in its conversation and its text.
        const index = (counters.get(lineConversation) || 0) + 1;
        counters.set(lineConversation, index);
        const id = readField(element, s.lineId);
        lines.push({
          key: `${lineConversation}|${id || `${from}#${index}|${text}`}`,
          conversation: lineConversation,
          buyer: readField(element, s.lineBuyer) || buyer || lineConversation,
          from,
          text,
          ts: parseTime(readField(element, s.lineTime)),
          auto: autoLines.has(element),
        });
      }
    }
    const orders = [];
    for (const card of s.orderCard ? doc.querySelectorAll(s.orderCard) : []) {
      const order = readField(card, s.orderId);
      const status = orderStatus(readField(card, s.orderStatus));
      if (!order || !status) continue;
      orders.push({
        order,
        status,
        amount: parseAmount(readField(card, s.orderAmount)),
        buyer: readField(card, s.orderBuyer) || buyer,
        conversation: readField(card, s.orderConversation) || conversation,
      });
    }
    return { platform, conversation, buyer, lines, orders };
  }

  root.adapters = {
    DEFAULTS, SELECTOR_KEYS, validate, readField, snapshot, countMatches, pick, withOverrides,
    orderStatus,
  };
})();
