// What the side panel shows, as a pure function of server frames and page events. The service
// worker keeps one such object and mirrors it into chrome.storage.session for the panel.
// `now` is always passed in (local epoch seconds) so the reducer never reads the clock.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});
  const MISSED_KEPT = 5;

  function initialState() {
    return {
      status: "disconnected", // disconnected | connecting | connected
      detail: "",
      seq: 0, // last server seq applied: sent back as `resume`
      session: null,
      agent: null,
      shop: null,
      platform: null,
      settings: null,
      library: null,
      adapters: null, // version of the server's adapter set in force, if it serves one
      adapterHealth: null, // {adapter, broken: [keys]} while the console's adapter fails
      clockOffset: 0, // server clock minus local clock, seconds
      conversations: {}, // conversation -> {conversation, buyer, level, started_at, waited_s, target_s}
      nudges: [],
      kpi: null,
      penalties: null, // the agent's month in the shop's ledger: {month, yuan, points, items, next, text}
      deadlines: {}, // "kind key" -> a deadline frame: open, or missed (kept to show it)
      handovers: {}, // conversation -> {conversation, buyer, from, text, pending}, until answered
      focus: null,
      suggestions: {}, // conversation -> items
      draft: null, // {conversation, text, violations, unavailable}
    };
  }

  function upsertConversation(state, frame) {
    state.conversations[frame.conversation] = {
      conversation: frame.conversation,
      buyer: frame.buyer || state.conversations[frame.conversation]?.buyer || frame.conversation,
      level: frame.level,
      started_at: frame.started_at,
      waited_s: frame.waited_s,
      target_s: frame.target_s,
    };
  }

  const handlers = {
    welcome(state, frame, now) {
      // A server that lost its history numbers from the start again: accept its frames.
      if (typeof frame.seq === "number" && frame.seq < state.seq) state.seq = 0;
      if (frame.resync) {
        Object.assign(state, {
          conversations: {},
          nudges: [],
          kpi: null,
          penalties: null,
          deadlines: {},
          handovers: {},
          suggestions: {},
        });
      }
      Object.assign(state, {
        status: "connected",
        detail: "",
        session: frame.session,
        agent: frame.agent,
        shop: frame.shop,
        platform: frame.platform,
        settings: frame.settings,
        library: frame.library,
        adapters: frame.adapters ?? null,
        clockOffset: frame.server_time - now,
      });
    },
    state(state, frame) {
      // The server sends the most urgent page first; a later page (asked for with `after`, so
      // it carries `ref`) adds to what is shown instead of starting afresh.
      const page = frame.ref !== undefined && frame.ref !== null;
      if (!page) state.conversations = {};
      for (const conversation of frame.conversations || []) upsertConversation(state, conversation);
      if (page) return;
      state.nudges = frame.nudges || [];
      state.kpi = frame.kpi || null;
      state.penalties = frame.penalties || null;
      // The deadlines running now replace the open ones shown; misses already shown stay.
      const missed = Object.entries(state.deadlines).filter(([, d]) => d.state === "missed");
      state.deadlines = Object.fromEntries(missed);
      for (const deadline of frame.deadlines || []) state.deadlines[`${deadline.kind} ${deadline.key}`] = deadline;
    },
    timer(state, frame) {
      if (frame.level === "cleared") delete state.conversations[frame.conversation];
      else upsertConversation(state, frame);
    },
    suggestions(state, frame) {
      state.suggestions[frame.conversation] = frame.items;
    },
    nudge(state, frame) {
      state.nudges = state.nudges.filter((nudge) => nudge.nudge !== frame.nudge);
      const { type: _type, seq: _seq, ...nudge } = frame;
      state.nudges.push(nudge);
    },
    kpi(state, frame) {
      const { type: _type, seq: _seq, ...kpi } = frame;
      state.kpi = kpi;
    },
    penalties(state, frame) {
      const { type: _type, seq: _seq, ...penalties } = frame;
      state.penalties = penalties;
    },
    deadline(state, frame) {
      // Met: gone. Open or missed: shown (the newest MISSED_KEPT misses, so the list stays short).
      const { type: _type, seq: _seq, ...deadline } = frame;
      const key = `${deadline.kind} ${deadline.key}`;
      if (deadline.state === "met") delete state.deadlines[key];
      else state.deadlines[key] = deadline;
      const missed = Object.entries(state.deadlines).filter(([, d]) => d.state === "missed");
      missed.sort(([, a], [, b]) => b.at - a.at);
      for (const [old] of missed.slice(MISSED_KEPT)) delete state.deadlines[old];
    },
    handover(state, frame) {
      const { type: _type, seq: _seq, ...handover } = frame;
      state.handovers[handover.conversation] = handover;
    },
    library(state, frame) {
      state.library = frame.version;
    },
    adapters(state, frame) {
      state.adapters = frame.version;
    },
  };

  // Applies one server frame; returns true when the view changed. Replayed frames are harmless
  // (every handler is idempotent), so `seq` only skips what was surely applied before.
  function applyFrame(state, frame, now) {
    const handler = handlers[frame.type];
    if (frame.type !== "welcome" && typeof frame.seq === "number") {
      if (frame.seq <= state.seq) return false;
      state.seq = frame.seq;
    }
    if (!handler) return false;
    handler(state, frame, now);
    return true;
  }

  // A line seen on the page starts (buyer) or ends (human agent) a local clock at once, so the
  // panel reacts before the server's first `timer`; the server's frames then overrule it.
  function applyLine(state, line, now) {
    const known = state.conversations[line.conversation];
    if (line.from === "agent" && !line.auto) {
      if (known && known.level === "waiting") delete state.conversations[line.conversation];
      delete state.handovers[line.conversation]; // the agent has taken it up: the note has done its job
      return;
    }
    if (line.from !== "buyer" || known) return;
    state.conversations[line.conversation] = {
      conversation: line.conversation,
      buyer: line.buyer,
      level: "waiting",
      started_at: (line.ts || now) + state.clockOffset,
      waited_s: 0,
      target_s: state.settings?.timers?.due_s ?? null,
    };
  }

  function setStatus(state, status, detail) {
    state.status = status;
    state.detail = detail || "";
  }

  root.state = { initialState, applyFrame, applyLine, setStatus };
})();
