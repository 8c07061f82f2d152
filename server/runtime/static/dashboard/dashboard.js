// Supervisors' live dashboard: one websocket to /dashboard/live sends a snapshot of the shop and
// then updates (timer, kpi, audit, agents, orders, adapters, ledger); the page keeps the view and redraws the part
// an update touches. Clocks tick locally from each round's start and the server's clock.
"use strict";

(() => {
  const LEVELS = { waiting: "等待中", warn: "请尽快回复", due: "已到时限", overdue: "已超时" };
  const KINDS = { check: "发送前检查", override: "强行发送" };
  const SEVERITIES = { block: "拦截", warn: "提醒" };
  const NUDGES = {
    pending: "待催付",
    delivered: "已推送",
    sent: "已发送",
    dismissed: "已忽略",
    cancelled: "已取消",
    expired: "已过期",
    dropped: "已放弃",
  };
  const RECENT_AUDIT = 50;
  const RETRY_MS = [1000, 2000, 5000, 10000];
  const TOKEN_KEY = "kefu-dashboard-token";

  const $ = (id) => document.getElementById(id);
  let token = null;
  let view = null;
  let retries = 0;

  function el(tag, props = {}, ...children) {
    const { dataset = {}, ...rest } = props;
    const node = Object.assign(document.createElement(tag), rest);
    Object.assign(node.dataset, dataset);
    node.append(...children);
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s}秒`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m}分${String(s % 60).padStart(2, "0")}秒` : `${Math.floor(m / 60)}时${String(m % 60).padStart(2, "0")}分`;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const mm = String(Math.floor(s / 60)).padStart(2, "0");
    return `${mm}:${String(s % 60).padStart(2, "0")}`;
  }

  function localTime(epoch) {
    return new Date(epoch * 1000).toLocaleTimeString("zh-CN", { hour12: false, timeZone: view.timezone });
  }

  function rate(value) {
    return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
  }

  function serverNow() {
    return Date.now() / 1000 + view.clockOffset;
  }

  function setEmpty(id, empty) {
    document.querySelector(`.empty[data-for="${id}"]`).hidden = !empty;
  }

  // --- sections ---------------------------------------------------------------------------

  function renderWaiting() {
    const rows = [...view.waiting.values()].sort((a, b) => a.started_at - b.started_at);
    $("waiting").tBodies[0].replaceChildren(
      ...rows.map((item) =>
        el(
          "tr",
          { dataset: { conversation: item.conversation, level: item.level } },
          el("td", { textContent: item.conversation }),
          el("td", { textContent: item.buyer }),
          el("td", { textContent: item.agent }),
          el("td", { className: "clock", dataset: { started: String(item.started_at) } }),
          el("td", {}, el("span", { className: "level", textContent: LEVELS[item.level] || item.level })),
        ),
      ),
    );
    $("waiting-count").textContent = rows.length;
    setEmpty("waiting", rows.length === 0);
    tick();
  }

  function tick() {
    if (!view) return;
    const now = serverNow();
    for (const cell of document.querySelectorAll("#waiting td.clock")) {
      cell.textContent = clock(now - Number(cell.dataset.started));
    }
  }

  // Consoles whose page adapter matches nothing for a required part: an agent working blind.
  function renderAdapters() {
    const broken = view.adapters;
    $("adapters-section").hidden = broken.length === 0;
    $("adapters-count").textContent = broken.length;
    const since = (ts) => new Date(ts * 1000).toLocaleTimeString("zh-CN", { timeZone: view.timezone, hour12: false });
    $("adapters").tBodies[0].replaceChildren(
      ...broken.map((item) =>
        el(
          "tr",
          { dataset: { agent: item.agent, adapter: item.adapter } },
          el("td", { textContent: item.agent }),
          el("td", { textContent: item.adapter }),
          el("td", { className: "keys", textContent: `适配失效：${item.keys.join("、")}` }),
          el("td", { textContent: since(item.since) }),
        ),
      ),
    );
  }

  function renderAgents() {
    $("online").replaceChildren(...view.online.map((agent) => el("li", { textContent: agent })));
    $("online-count").textContent = view.online.length;
    setEmpty("online", view.online.length === 0);
    renderKpis();
  }

  function renderKpis() {
    const agents = [...new Set([...view.kpis.keys(), ...view.online])].sort();
    const cells = (kpi, online) => [
      el("td", { textContent: online ? "●" : "" }),
      el("td", { className: "num", textContent: kpi ? kpi.rounds : 0 }),
      el("td", { className: "num", textContent: kpi ? kpi.answered : 0 }),
      el("td", { className: "num", textContent: duration(kpi && kpi.avg_response_s) }),
      el("td", { className: "num", textContent: duration(kpi && kpi.first_response_s) }),
      el("td", {
        className: kpi && kpi.within_target_rate !== null && kpi.within_target_rate < view.targetRate ? "num rate-low" : "num",
        textContent: rate(kpi && kpi.within_target_rate),
      }),
      el("td", { className: "num", textContent: kpi ? kpi.misses_left : "—" }),
      el("td", { className: "num", textContent: kpi ? kpi.overdue : 0 }),
      el("td", { className: "num", textContent: duration(kpi && kpi.longest_wait_s) }),
    ];
    $("kpis").tBodies[0].replaceChildren(
      ...agents.map((agent) =>
        el(
          "tr",
          { dataset: { agent } },
          el("td", { textContent: agent }),
          ...cells(view.kpis.get(agent), view.online.includes(agent)),
        ),
      ),
    );
    setEmpty("kpis", agents.length === 0);
  }

  function renderAudit() {
    $("audit").replaceChildren(
      ...view.audit.map((item) =>
        el(
          "li",
          { dataset: { kind: item.kind, severity: item.severity } },
          el("span", { className: "meta", textContent: `${localTime(item.ts)} · ${item.agent} · 会话 ${item.conversation || "—"}` }),
          el("span", { className: "meta kind", textContent: `${KINDS[item.kind] || item.kind} · ${SEVERITIES[item.severity] || item.severity}` }),
          ...item.categories.map((c) => el("span", { className: "tag", textContent: view.labels.categories[c] || c })),
          el("span", { className: "text", textContent: item.text }),
        ),
      ),
    );
    $("audit-count").textContent = view.audit.length;
    setEmpty("audit", view.audit.length === 0);
  }

  // The shop's own rulebook: each agent's month so far, the shop's total, who is idle now.
  function ruleLabel(rule) {
    const named = view.labels.rules[rule];
    if (named) return named;
    const category = view.labels.categories[rule.split(".")[0]];
    return category ? `${category}（${rule}）` : rule;
  }

  function itemText(item) {
    const cost = [item.yuan ? `¥${item.yuan}` : "", item.points ? `${item.points}分` : ""].filter(Boolean);
    return `${ruleLabel(item.rule)} ×${item.count}${cost.length ? ` ${cost.join(" ")}` : ""}`;
  }

  function renderPenalties() {
    const { month, agents, shop } = view.penalties;
    $("penalties-month").textContent = month;
    $("penalties-shop").textContent = shop.text;
    $("penalties").tBodies[0].replaceChildren(
      ...agents.map((row) =>
        el(
          "tr",
          { dataset: { agent: row.agent } },
          el("td", { textContent: row.agent }),
          el("td", { className: "num", textContent: `¥${row.yuan}` }),
          el("td", { className: "num", textContent: row.points }),
          el("td", { className: "items" }, ...row.items.map((item) => el("span", { className: "item", textContent: itemText(item) }))),
          el("td", { className: "next", textContent: row.text }),
        ),
      ),
    );
    setEmpty("penalties", agents.length === 0);
  }

  function renderIdle() {
    $("idle-section").hidden = view.idle.length === 0;
    $("idle-count").textContent = view.idle.length;
    $("idle").replaceChildren(
      ...view.idle.map((alert) =>
        el("li", { dataset: { agent: alert.agent }, textContent: `${alert.agent} 自 ${localTime(alert.since)} 起无操作，${alert.waiting} 位买家在等待` }),
      ),
    );
  }

  function nudgeLabel(nudge) {
    const state = nudge.state === "done" ? nudge.outcome : nudge.state;
    const who = nudge.agent ? ` ${nudge.agent}` : "";
    return `第${nudge.attempt}次 ${NUDGES[state] || state}${nudge.state === "delivered" ? who : ""}`;
  }

  function renderOrders() {
    const { unpaid, today } = view.orders;
    $("orders").tBodies[0].replaceChildren(
      ...unpaid.map((order) =>
        el(
          "tr",
          { dataset: { order: order.order } },
          el("td", { textContent: order.order }),
          el("td", { textContent: order.buyer }),
          el("td", { className: "num", textContent: order.amount ? `¥${order.amount}` : "—" }),
          el("td", { textContent: localTime(order.created_at) }),
          el("td", {}, ...order.nudges.map((n) => el("span", { className: "nudge", textContent: nudgeLabel(n) }))),
        ),
      ),
    );
    $("orders-count").textContent = unpaid.length;
    $("orders-today").textContent = `今日催付 ${today.nudged} 单，其中已付款 ${today.paid} 单`;
    setEmpty("orders", unpaid.length === 0);
  }

  // --- the feed ---------------------------------------------------------------------------

  function onSnapshot(frame) {
    view = {
      clockOffset: frame.server_time - Date.now() / 1000,
      timezone: frame.timezone,
      targetRate: frame.target_rate,
      labels: frame.labels,
      waiting: new Map(frame.waiting.map((item) => [item.conversation, item])),
      online: frame.online,
      kpis: new Map(frame.kpis.map((kpi) => [kpi.agent, kpi])),
      audit: frame.audit.slice().reverse(),
      orders: frame.orders,
      adapters: frame.adapters,
      penalties: frame.penalties,
      idle: frame.idle,
    };
    $("shop").textContent = `店铺 ${frame.shop}`;
    $("date").textContent = frame.date;
    const range = document.forms.export;
    if (!range.elements.from.value) range.elements.from.value = frame.date;
    if (!range.elements.to.value) range.elements.to.value = frame.date;
    renderWaiting();
    renderAgents();
    renderAudit();
    renderOrders();
    renderAdapters();
    renderPenalties();
    renderIdle();
  }

  const HANDLERS = {
    snapshot: onSnapshot,
    timer(frame) {
      if (frame.level === "cleared") view.waiting.delete(frame.conversation);
      else view.waiting.set(frame.conversation, frame);
      renderWaiting();
    },
    kpi(frame) {
      view.kpis.set(frame.agent, frame);
      renderKpis();
    },
    audit(frame) {
      view.audit.unshift(frame);
      view.audit.length = Math.min(view.audit.length, RECENT_AUDIT);
      renderAudit();
    },
    agents(frame) {
      view.online = frame.online;
      renderAgents();
    },
    orders(frame) {
      // Only what changed: merge it into the list the snapshot gave.
      const unpaid = new Map(view.orders.unpaid.map((order) => [order.order, order]));
      for (const order of frame.changed) unpaid.set(order.order, order);
      for (const number of frame.removed) unpaid.delete(number);
      const byAge = (a, b) => a.created_at - b.created_at || (a.order < b.order ? -1 : a.order > b.order ? 1 : 0);
      view.orders = { unpaid: [...unpaid.values()].sort(byAge), today: frame.today };
      renderOrders();
    },
    adapters(frame) {
      view.adapters = frame.broken;
      renderAdapters();
    },
    ledger(frame) {
      view.penalties = frame.penalties;
      view.idle = frame.idle;
      renderPenalties();
      renderIdle();
    },
  };

  function setConn(state, text) {
    $("conn").dataset.state = state;
    $("conn").textContent = text;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/dashboard/live?token=${encodeURIComponent(token)}`);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      retries = 0;
      setConn("live", "实时");
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      const handle = HANDLERS[frame.type];
      if (handle && (view || frame.type === "snapshot")) handle(frame);
    };
    socket.onclose = () => {
      setConn("lost", "连接中断，正在重连…");
      if (opened) setTimeout(connect, RETRY_MS[0]);
      else explainRefusal();
    };
  }

  // A refused websocket says nothing to the page: ask the API why (401 or 403), else retry.
  async function explainRefusal() {
    let status = 0;
    try {
      status = (await fetch("/api/audit", { headers: { Authorization: `Bearer ${token}` } })).status;
    } catch {
      status = 0;
    }
    if (status === 401 || status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(status === 401 ? "令牌无效，请重新输入" : "该令牌不是主管令牌，无法查看看板");
      return;
    }
    setTimeout(connect, RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)]);
  }

  function showLogin(message) {
    $("board").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    setConn("lost", "未登录");
  }

  function start(value) {
    token = value;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").hidden = true;
    $("board").hidden = false;
    connect();
  }

  async function exportAudit(event) {
    event.preventDefault();
    const form = event.target;
    const format = event.submitter ? event.submitter.value : "csv";
    const query = new URLSearchParams({ from: form.elements.from.value, to: form.elements.to.value, format });
    const response = await fetch(`/api/audit?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) {
      $("export-status").textContent = `导出失败：${(await response.json()).error}`;
      return;
    }
    const link = el("a", {
      href: URL.createObjectURL(await response.blob()),
      download: `audit-${query.get("from")}-${query.get("to")}.${format}`,
    });
    link.click();
    URL.revokeObjectURL(link.href);
    $("export-status").textContent = "已导出";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.forms.login.addEventListener("submit", (event) => {
      event.preventDefault();
      start(event.target.elements.token.value.trim());
    });
    document.forms.export.addEventListener("submit", exportAudit);
    setInterval(tick, 1000);
    // A token in the address (?token=) is moved to this tab's storage and out of the history.
    const params = new URLSearchParams(location.search);
    const given = params.get("token");
    if (given) history.replaceState(null, "", location.pathname);
    const saved = given || sessionStorage.getItem(TOKEN_KEY);
    if (saved) start(saved);
    else showLogin();
  });
})();
