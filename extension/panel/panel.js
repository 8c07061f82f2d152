// Side panel: follows the view the service worker keeps in chrome.storage.session and sends the
// agent's actions (suggestion clicks, nudge buttons) back to it. Holds no state of its own.
"use strict";

(() => {
  const { ext } = globalThis.kefu;

  const LEVELS = {
    waiting: "等待中",
    warn: "请尽快回复",
    due: "已到时限",
    overdue: "已超时",
    follow_up: "待跟进",
  };
  const SNOOZE_S = 30 * 60;
  // While the panel is open it pokes the worker, so a worker waiting to reconnect is not idled out.
  const WAKE_EVERY_MS = 20_000;

  const $ = (id) => document.getElementById(id);
  let view = null;

  function el(tag, { dataset = {}, ...props } = {}, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    Object.assign(node.dataset, dataset);
    node.append(...children.filter((child) => child !== null));
    return node;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function waited(conversation) {
    if (typeof conversation.started_at !== "number") return conversation.waited_s || 0;
    return Date.now() / 1000 + view.clockOffset - conversation.started_at;
  }

  let toastTimer = null;
  function toast(text) {
    $("toast").textContent = text;
    $("toast").hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => ($("toast").hidden = true), 4000);
  }

  async function act(message) {
    const answer = await ext.send(message);
    if (!answer || answer.error || answer.ok === false) toast((answer && answer.error) || "操作失败，请稍后再试");
    return answer;
  }

  function renderConnection() {
    const connected = view.status === "connected";
    $("conn").textContent = connected ? "已连接" : "未连接";
    $("conn").dataset.status = view.status;
    $("conn-detail").textContent = connected
      ? `客服 ${view.agent || ""} · 店铺 ${view.shop || ""} · 平台 ${view.platform || ""}`
      : view.detail || "正在连接服务器…";
  }

  // The console's adapter matches nothing for some required part: readings and the guard are
  // off until a selector is fixed (options page, or the server's adapters directory).
  function renderAdapterHealth() {
    const health = view.adapterHealth;
    $("adapter-health").hidden = !health;
    $("adapter-health").dataset.broken = health ? health.broken.join(" ") : "";
    $("adapter-health").textContent = health
      ? `适配失效：${health.broken.join("、")}（${health.adapter}），页面读取和发送检查可能失效，请联系组长更新选择器`
      : "";
  }

  function renderWaiting() {
    const conversations = Object.values(view.conversations).sort((a, b) => waited(b) - waited(a));
    $("waiting").replaceChildren(
      ...conversations.map((conversation) =>
        el(
          "li",
          {
            className: `conversation${conversation.conversation === view.focus ? " focused" : ""}`,
            dataset: { conversation: conversation.conversation, level: conversation.level },
          },
          el("span", { className: "buyer", textContent: conversation.buyer }),
          el("span", { className: "level", textContent: LEVELS[conversation.level] || conversation.level }),
          el("time", { className: "clock", textContent: clock(waited(conversation)) }),
        ),
      ),
    );
    $("waiting-count").textContent = String(conversations.length);
    $("waiting-empty").hidden = conversations.length > 0;
  }

  function tickClocks() {
    for (const item of $("waiting").children) {
      const conversation = view.conversations[item.dataset.conversation];
      if (conversation) item.querySelector(".clock").textContent = clock(waited(conversation));
    }
    for (const item of $("deadlines").children) {
      const deadline = view.deadlines[`${item.dataset.kind} ${item.dataset.key}`];
      if (deadline) item.querySelector(".left").textContent = deadlineLeft(deadline);
    }
  }

  function renderSuggestions() {
    const items = (view.focus && view.suggestions[view.focus]) || [];
    const buyer = view.focus && (view.conversations[view.focus]?.buyer || view.focus);
    $("suggestions-for").textContent = buyer ? `· ${buyer}` : "";
    $("suggestions").replaceChildren(
      ...items.map((item) =>
        el(
          "li",
          {},
          el("button", {
            type: "button",
            className: "suggestion",
            textContent: item.text,
            title: `${item.category} · ${item.phrase}`,
            dataset: { phrase: item.phrase },
            onclick: () =>
              act({ kind: "insert_text", text: item.text, phrase: item.phrase, conversation: view.focus }),
          }),
        ),
      ),
    );
    $("suggestions-empty").hidden = items.length > 0;
  }

  function renderDraft() {
    const draft = view.draft;
    const problems = draft ? draft.violations || [] : [];
    $("draft-section").hidden = !draft || (!problems.length && !draft.unavailable);
    const rows = problems.map((violation) =>
      el(
        "li",
        { className: violation.severity, dataset: { rule: violation.rule } },
        el("b", { textContent: `「${violation.match}」` }),
        ` ${violation.message}`,
        violation.suggestion ? el("span", { className: "advice", textContent: `建议：${violation.suggestion}` }) : null,
      ),
    );
    if (draft && draft.unavailable) rows.push(el("li", { className: "unavailable", textContent: "检查不可用" }));
    $("draft").replaceChildren(...rows);
  }

  function renderNudges() {
    const button = (label, onclick) => el("button", { type: "button", textContent: label, onclick });
    const ack = (nudge, action, extra = {}) => () => act({ kind: "nudge_ack", nudge: nudge.nudge, action, ...extra });
    $("nudges").replaceChildren(
      ...view.nudges.map((nudge) =>
        el(
          "li",
          { className: "nudge", dataset: { nudge: nudge.nudge, order: nudge.order } },
          el("div", {
            className: "what",
            textContent: `${nudge.buyer} · 订单 ${nudge.order}${nudge.amount ? ` · ¥${nudge.amount}` : ""} · 第 ${nudge.attempt} 次`,
          }),
          el("button", {
            type: "button",
            className: "nudge-text",
            title: "点击填入输入框",
            textContent: nudge.text,
            onclick: () => act({ kind: "insert_text", text: nudge.text, conversation: nudge.conversation || null }),
          }),
          el(
            "div",
            { className: "actions" },
            button("已发送", ack(nudge, "sent")),
            button("忽略", ack(nudge, "dismissed")),
            button("稍后提醒", ack(nudge, "snoozed", { snooze_s: SNOOZE_S })),
          ),
        ),
      ),
    );
    $("nudges-empty").hidden = view.nudges.length > 0;
  }

  // The shop's own rulebook: the month's fines and the next one, and the process deadlines
  // running for this agent (confirm an order, handle a refund, come back after 请稍等).
  function renderPenalties() {
    const penalties = view.penalties;
    $("penalties-text").textContent = penalties ? penalties.text : "连接后显示";
    $("penalties-text").dataset.yuan = penalties ? String(penalties.yuan) : "";
    const deadlines = Object.values(view.deadlines || {}).sort((a, b) => a.due_at - b.due_at);
    $("deadlines").replaceChildren(
      ...deadlines.map((deadline) =>
        el(
          "li",
          { className: "deadline", dataset: { kind: deadline.kind, key: deadline.key, state: deadline.state } },
          el("span", { className: "what", textContent: deadline.text }),
          el("time", { className: "left", textContent: deadlineLeft(deadline) }),
        ),
      ),
    );
  }

  // A conversation moved to this agent: seed 001's note, filled by the server, until answered.
  function renderHandovers() {
    const notes = Object.values(view.handovers || {});
    $("handovers-section").hidden = notes.length === 0;
    $("handovers").replaceChildren(
      ...notes.map((handover) =>
        el(
          "li",
          { className: "handover", dataset: { conversation: handover.conversation } },
          el("div", { className: "from", textContent: `来自 ${handover.from} 的会话` }),
          el("div", { className: "text", textContent: handover.text }),
        ),
      ),
    );
  }

  function deadlineLeft(deadline) {
    if (deadline.state === "missed") return deadline.yuan ? `已超时，罚 ¥${deadline.yuan}` : "已超时";
    return `剩余 ${clock(deadline.due_at - (Date.now() / 1000 + view.clockOffset))}`;
  }

  function renderKpi() {
    const kpi = view.kpi;
    const seconds = (value) => (typeof value === "number" ? `${value.toFixed(1)} 秒` : "—");
    const percent = (value) => (typeof value === "number" ? `${(value * 100).toFixed(1)}%` : "—");
    const plain = (value) => (value === null || value === undefined ? "—" : String(value));
    const rows = kpi
      ? [
          ["接待轮次", plain(kpi.rounds), "rounds"],
          ["已回复", plain(kpi.answered), "answered"],
          ["平均响应", seconds(kpi.avg_response_s), "avg_response_s"],
          ["首次响应", seconds(kpi.first_response_s), "first_response_s"],
          ["达标率", `${percent(kpi.within_target_rate)}（目标 ${percent(kpi.target_rate)}）`, "within_target_rate"],
          ["超时", plain(kpi.overdue), "overdue"],
          ["最长等待", seconds(kpi.longest_wait_s), "longest_wait_s"],
          ["今日还可超时", kpi.misses_left === null || kpi.misses_left === undefined ? "—" : `${kpi.misses_left} 次`, "misses_left"],
        ]
      : [["今日数据", "连接后显示", "none"]];
    $("kpi").replaceChildren(
      ...rows.flatMap(([label, value, key]) => [
        el("dt", { textContent: label }),
        el("dd", { textContent: value, dataset: { kpi: key } }),
      ]),
    );
  }

  function render(next) {
    if (!next) return;
    view = next;
    renderConnection();
    renderAdapterHealth();
    renderWaiting();
    renderDraft();
    renderSuggestions();
    renderNudges();
    renderHandovers();
    renderPenalties();
    renderKpi();
  }

  ext.session.watch("view", render);
  ext.session.get("view").then(render);
  ext.send({ kind: "wake" });
  setInterval(() => ext.send({ kind: "wake" }), WAKE_EVERY_MS);
  setInterval(() => view && tickClocks(), 1000);
})();
