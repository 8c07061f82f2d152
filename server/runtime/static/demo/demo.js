// Demo console: a client-side imitation of a marketplace chat console, so the extension can be
// tried and tested without a shop. Lines carry data-from / data-conversation / data-ts / data-id,
// which is all the demo page adapter reads. Nothing here talks to the server.
"use strict";

(() => {
  const PLATFORMS = { taobao: "淘宝", tmall: "天猫", jd: "京东", pdd: "拼多多" };
  const BUYERS = [
    { key: "c1", name: "小鹿爱买买" },
    { key: "c2", name: "阿杰" },
    { key: "c3", name: "晴天" },
    { key: "c4", name: "木子李" },
  ];
  const SCRIPTS = {
    size: ["你好，在吗？", "我身高165，体重110斤，这件外套穿什么码？", "洗了会不会起球啊？", "好的，那我拍M码"],
    bargain: ["老板，这个能便宜点吗？", "两件能打个折吗？", "那送个小礼物可以吗？"],
    shipping: ["我前天拍的怎么还没发货？", "今天能发出吗？", "麻烦快点，着急用"],
  };
  const STATUS_TEXT = { created: "待付款", paid: "已付款" };
  // A scripted buyer answers this long after the agent's reply, like a person reading it.
  const SCRIPT_REPLY_DELAY_MS = 1200;

  const params = new URLSearchParams(location.search);
  const platform = params.get("platform") in PLATFORMS ? params.get("platform") : "taobao";

  const $ = (selector) => document.querySelector(selector);
  const log = $("[role=log]");
  const header = $(".chat-header");
  const conversationNav = $(".conversations");
  const buyerSelect = $("select[name=buyer]");
  const buyerInput = $("textarea[name=buyer-input]");
  const agentInput = $("textarea[name=agent-input]");
  const ordersList = $(".buyer-orders");

  const conversations = BUYERS.map((buyer) => ({
    id: `demo-${platform}-${buyer.key}`,
    buyer: buyer.name,
    unread: 0,
    last: "",
    script: null, // lines still to play
  }));
  let current = conversations[0];
  let lineCount = 0;
  let orderCount = 0;

  const byId = (id) => conversations.find((conversation) => conversation.id === id);
  const nowSeconds = () => Date.now() / 1000;
  const timeLabel = (ts) => new Date(ts * 1000).toLocaleTimeString("zh-CN", { hour12: false });

  function renderConversations() {
    conversationNav.replaceChildren(
      ...conversations.map((conversation) => {
        const item = document.createElement("button");
        item.type = "button";
        item.className = "conversation";
        item.dataset.conversation = conversation.id;
        if (conversation === current) item.setAttribute("aria-current", "true");
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = conversation.buyer;
        const last = document.createElement("span");
        last.className = "last";
        last.textContent = conversation.last || "暂无消息";
        item.append(name, last);
        if (conversation.unread) {
          const badge = document.createElement("span");
          badge.className = "unread";
          badge.textContent = String(conversation.unread);
          item.append(badge);
        }
        item.addEventListener("click", () => openConversation(conversation));
        return item;
      }),
    );
  }

  // All lines stay in the one transcript; only the open conversation's are shown.
  function openConversation(conversation) {
    current = conversation;
    conversation.unread = 0;
    header.dataset.conversation = conversation.id;
    header.dataset.buyer = conversation.buyer;
    header.textContent = `与「${conversation.buyer}」的对话`;
    for (const item of log.children) item.hidden = item.dataset.conversation !== conversation.id;
    renderConversations();
    log.scrollTop = log.scrollHeight;
  }

  function appendItem(conversation, item) {
    item.dataset.conversation = conversation.id;
    item.dataset.buyer = conversation.buyer;
    item.hidden = conversation !== current;
    log.append(item);
    if (conversation !== current) conversation.unread += 1;
    renderConversations();
    log.scrollTop = log.scrollHeight;
  }

  function appendLine(conversation, from, text) {
    const ts = nowSeconds();
    lineCount += 1;
    const item = document.createElement("li");
    item.className = "line";
    item.dataset.from = from;
    item.dataset.ts = ts.toFixed(3);
    item.dataset.id = `${conversation.id}-${lineCount}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = from === "buyer" ? conversation.buyer : "客服";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    const time = document.createElement("time");
    time.textContent = timeLabel(ts);
    item.append(who, body, time);
    conversation.last = text;
    appendItem(conversation, item);
  }

  function selectedBuyerConversation() {
    return byId(buyerSelect.value) || current;
  }

  function buyerSays(conversation, text) {
    if (text.trim()) appendLine(conversation, "buyer", text.trim());
  }

  function sendAgent() {
    const text = agentInput.value.trim();
    if (!text) return;
    agentInput.value = "";
    appendLine(current, "agent", text);
    const conversation = current;
    if (conversation.script && conversation.script.length) {
      setTimeout(() => buyerSays(conversation, conversation.script.shift()), SCRIPT_REPLY_DELAY_MS);
    }
  }

  function sendBuyer() {
    const text = buyerInput.value;
    buyerInput.value = "";
    buyerSays(selectedBuyerConversation(), text);
  }

  function playScript(name) {
    const conversation = selectedBuyerConversation();
    conversation.script = [...SCRIPTS[name]];
    buyerSays(conversation, conversation.script.shift());
  }

  function setOrderStatus(card, status) {
    card.dataset.status = status;
    card.querySelector(".order-status").textContent = STATUS_TEXT[status];
  }

  function placeOrder() {
    const conversation = selectedBuyerConversation();
    orderCount += 1;
    const order = `${Date.now()}${String(orderCount).padStart(2, "0")}`;
    const amount = [59, 89, 129, 199][orderCount % 4].toFixed(2);
    const card = document.createElement("li");
    card.className = "order-card";
    card.dataset.order = order;
    card.dataset.amount = amount;
    card.dataset.ts = nowSeconds().toFixed(3);
    card.innerHTML =
      '<span class="label">订单</span> <span class="order-id"></span>' +
      ' <span class="order-amount"></span> <span class="order-status"></span>';
    card.querySelector(".order-id").textContent = order;
    card.querySelector(".order-amount").textContent = `¥${amount}`;
    setOrderStatus(card, "created");
    appendItem(conversation, card);

    const entry = document.createElement("li");
    entry.textContent = `${conversation.buyer} · 订单 ${order} · ¥${amount} `;
    const pay = document.createElement("button");
    pay.type = "button";
    pay.textContent = "付款";
    pay.dataset.order = order;
    pay.addEventListener("click", () => {
      setOrderStatus(card, "paid");
      pay.disabled = true;
      pay.textContent = "已付款";
    });
    entry.append(pay);
    ordersList.append(entry);
  }

  // Enter sends and Shift+Enter breaks the line, except while an IME is composing.
  function sendOnEnter(textarea, send) {
    textarea.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      send();
    });
    textarea.nextElementSibling.addEventListener("click", send);
  }

  document.body.dataset.platform = platform;
  $("#platform-name").textContent = PLATFORMS[platform];
  document.title = `客服助手 · 演示控制台（${PLATFORMS[platform]}）`;
  for (const conversation of conversations) {
    buyerSelect.append(new Option(conversation.buyer, conversation.id));
  }
  sendOnEnter(agentInput, sendAgent);
  sendOnEnter(buyerInput, sendBuyer);
  for (const button of document.querySelectorAll("[data-script]")) {
    button.addEventListener("click", () => playScript(button.dataset.script));
  }
  $("button[name=place-order]").addEventListener("click", placeOrder);
  openConversation(current);
})();
