// The send-time guard: holds the send key (Enter or Ctrl/Cmd+Enter, as the console is set) and
// every press of the send control, checks the draft on the server (`check` with final: true) and
// blocks, warns or lets it through; while typing, a debounced check underlines problems (a
// mirror laid over a textarea, highlight ranges in a contenteditable editor). A draft the server
// already found clean is never held, so the console gets the agent's own, trusted event.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});
  if (root.guard) return;

  const TYPING_DEBOUNCE_MS = 250;
  // The worker gives the server 300 ms; this covers a worker that does not answer at all.
  const WORKER_DEADLINE_MS = 400;
  const UNAVAILABLE = { unavailable: true, violations: [] };

  const STYLE = `
    :host { all: initial; }
    .mirror {
      position: fixed; pointer-events: none; overflow: hidden; color: transparent;
      white-space: pre-wrap; overflow-wrap: break-word; z-index: 2147483646;
    }
    mark { color: transparent; background: rgba(255, 80, 80, .12); text-decoration: underline wavy #e0241b; text-decoration-skip-ink: none; }
    mark.warn { background: rgba(255, 170, 0, .14); text-decoration-color: #e08a00; }
    .notice {
      position: fixed; z-index: 2147483647; max-width: 420px; padding: 8px 10px; border-radius: 6px;
      font: 13px/1.5 "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; color: #222;
      background: #fff; border: 1px solid #ccc; box-shadow: 0 2px 10px rgba(0,0,0,.18);
    }
    .notice[hidden] { display: none; }
    .notice.block { border-color: #e0241b; }
    .notice.warn { border-color: #e08a00; }
    .notice .title { font-weight: 600; margin-bottom: 4px; }
    .notice ul { margin: 0 0 6px; padding-left: 18px; }
    .notice .match { font-weight: 600; }
    .notice .advice { color: #555; }
    .notice button { font: inherit; margin-right: 6px; padding: 2px 10px; cursor: pointer; }
  `;

  // Contenteditable inputs are underlined with the CSS Custom Highlight API: ranges over the
  // console's own text nodes, nothing inserted into an editor the console re-renders.
  const HIGHLIGHT_STYLE = `
    ::highlight(kefu-assist-block) { background-color: rgba(255, 80, 80, .18); text-decoration: underline wavy #e0241b; }
    ::highlight(kefu-assist-warn) { background-color: rgba(255, 170, 0, .18); text-decoration: underline wavy #e08a00; }
  `;
  // Events of the send control a console may send on; all are held while a draft is checked.
  const POINTER_EVENTS = ["pointerdown", "mousedown", "pointerup", "mouseup", "click"];
  const KEY_EVENTS = ["keydown", "keypress", "keyup"];
  const CLEARED_WITHIN_MS = 500; // a replayed send the console ignored: ask the agent to send
  const MAX_VERDICTS = 50;

  const composing = (event) => event.isComposing || event.keyCode === 229; // an IME is composing

  // The console's send key: Enter, or Ctrl/Cmd+Enter when the agent chose that (JD's menu).
  function isSendKey(event, mode) {
    if (event.key !== "Enter" || event.shiftKey || event.altKey || composing(event)) return false;
    const modified = event.ctrlKey || event.metaKey;
    return mode === "ctrl" ? modified : !modified;
  }

  function valueOf(input) {
    return "value" in input ? input.value : input.innerText;
  }

  // Sets the text the way a user edit would, so framework-controlled inputs notice it.
  function setValue(input, text) {
    if ("value" in input) {
      const proto = Object.getPrototypeOf(input);
      Object.getOwnPropertyDescriptor(proto, "value").set.call(input, text);
      input.dispatchEvent(new Event("input", { bubbles: true }));
    } else {
      input.focus();
      document.getSelection().selectAllChildren(input);
      document.execCommand("insertText", false, text);
    }
  }

  // Replaces every violation that has a suggestion, last first so earlier offsets stay valid.
  function rewrite(text, violations) {
    const replaceable = violations
      .filter((violation) => violation.suggestion)
      .sort((a, b) => b.start - a.start);
    let result = text;
    let limit = Infinity;
    for (const violation of replaceable) {
      if (violation.end > limit) continue; // overlaps one already replaced
      result = result.slice(0, violation.start) + violation.suggestion + result.slice(violation.end);
      limit = violation.start;
    }
    return result;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A DOM range over [start, end) of an element's text.
  function textRange(root, start, end) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let at = 0;
    let begun = false;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const length = node.data.length;
      if (!begun && start <= at + length) {
        range.setStart(node, start - at);
        begun = true;
      }
      if (begun && end <= at + length) {
        range.setEnd(node, end - at);
        return range;
      }
      at += length;
    }
    return null;
  }

  class Guard {
    // options: {failClosed, conversation: () => string|null, freeShipping: (conversation) =>
    // boolean}. Installed at document_start with
    // no adapter; it engages once setAdapter gives it the console's selectors.
    constructor(options) {
      this.adapter = null;
      this.options = options;
      this.bypass = false; // set while the guard itself replays the page's send
      this.busy = false;
      this.approvedText = null; // a warned draft the agent chose to send anyway
      this.verdicts = new Map(); // draft -> the server's answer, so a checked draft sends at once
      this.via = "key"; // how the agent last tried to send: replayed the same way
      this.typingTimer = null;
      this.host = null;
      this.violations = [];
    }

    setAdapter(adapter) {
      this.adapter = adapter;
    }

    get selectors() {
      return this.adapter ? this.adapter.selectors : null;
    }

    // The overlay is built on first use: at document_start the page has no body yet.
    ensureHost() {
      if (this.host) return;
      this.host = element("kefu-assist-guard");
      const shadow = this.host.attachShadow({ mode: "open" });
      this.mirror = element("div", "mirror");
      this.mirror.hidden = true;
      this.notice = element("div", "notice");
      this.notice.hidden = true;
      shadow.append(element("style", "", STYLE), this.mirror, this.notice);
      document.documentElement.append(this.host, element("style", "", HIGHLIGHT_STYLE));
    }

    install() {
      // Capturing on window, registered before any page script runs: the console's own
      // listeners (even capturing ones on window) see a held event never.
      for (const kind of KEY_EVENTS) window.addEventListener(kind, (event) => this.onKey(event), true);
      for (const kind of POINTER_EVENTS) window.addEventListener(kind, (event) => this.onPointer(event), true);
      window.addEventListener("input", (event) => this.onInput(event), true);
      window.addEventListener("scroll", () => this.place(), true);
      window.addEventListener("resize", () => this.place());
    }

    input() {
      return this.selectors && root.adapters.find(document, this.selectors, "input");
    }

    closest(target, key) {
      if (!(target instanceof Element) || !this.selectors) return null;
      for (const selector of root.adapters.candidates(this.selectors[key])) {
        const found = target.closest(selector);
        if (found) return found;
      }
      return null;
    }

    sendKeyMode() {
      const mode = root.adapters.readField(document, this.selectors.sendKeyMode);
      return mode && /ctrl|cmd|⌘|meta/i.test(mode) ? "ctrl" : "enter";
    }

    // A draft the guard lets the console send itself: empty, approved, or checked and clean.
    cleared(text) {
      const verdict = this.verdicts.get(text);
      return !text.trim() || text === this.approvedText || (verdict && !verdict.violations.length);
    }

    hold(event) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }

    onKey(event) {
      if (this.bypass || !this.selectors || !this.closest(event.target, "input")) return;
      if (!isSendKey(event, this.sendKeyMode())) return;
      const input = this.input();
      if (!input || this.cleared(valueOf(input))) return;
      this.hold(event);
      if (event.type !== "keydown") return;
      this.via = "key";
      this.attemptSend();
    }

    onPointer(event) {
      if (this.bypass || !this.closest(event.target, "sendButton")) return;
      const input = this.input();
      // Without its input the guard cannot know what would be sent: it never holds the click.
      if (!input || this.cleared(valueOf(input))) return;
      this.hold(event);
      if (event.type !== "click") return;
      this.via = "click";
      this.attemptSend();
    }

    onInput(event) {
      if (!this.closest(event.target, "input")) return;
      clearTimeout(this.typingTimer);
      const input = this.input();
      if (valueOf(input) !== this.approvedText) this.approvedText = null;
      this.hideNotice();
      this.underline(input, valueOf(input), []);
      this.typingTimer = setTimeout(() => this.checkWhileTyping(), TYPING_DEBOUNCE_MS);
    }

    async checkWhileTyping() {
      const input = this.input();
      const text = input ? valueOf(input) : "";
      if (!text.trim()) {
        root.ext.send({ kind: "clear_draft" });
        return;
      }
      const result = await this.check(text, false);
      if (!input.isConnected || valueOf(input) !== text) return; // typed on: a newer check comes
      if (result.unavailable) this.showUnavailable(false);
      this.underline(input, text, result.violations);
    }

    async check(text, final) {
      const deadline = new Promise((resolve) => setTimeout(() => resolve(UNAVAILABLE), WORKER_DEADLINE_MS));
      const conversation = this.options.conversation();
      const free_shipping = this.options.freeShipping(conversation);
      const answer = root.ext
        .send({ kind: "check", text, conversation, final, free_shipping })
        .then((result) => (result && !result.error ? result : UNAVAILABLE));
      const result = await Promise.race([answer, deadline]);
      if (!result.unavailable) {
        if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.clear();
        this.verdicts.set(text, result);
      }
      return result;
    }

    async attemptSend() {
      const input = this.input();
      if (this.busy || !input) return;
      const text = valueOf(input);
      if (this.cleared(text)) {
        this.sendNow();
        return;
      }
      this.busy = true;
      try {
        const result = await this.check(text, true);
        if (valueOf(this.input() || input) !== text) return; // edited meanwhile: the agent sends again
        this.decide(this.input() || input, text, result);
      } finally {
        this.busy = false;
      }
    }

    decide(input, text, result) {
      if (result.unavailable) {
        // The worker knows the shop's policy; without its answer the local option decides.
        const failClosed = result.failClosed ?? this.options.failClosed;
        this.showUnavailable(failClosed);
        if (!failClosed) this.sendNow({ keepNotice: true });
        return;
      }
      const violations = result.violations || [];
      this.underline(input, text, violations);
      if (violations.some((violation) => violation.severity === "block")) {
        this.showBlocked(input, text, violations);
      } else if (violations.length) {
        this.approvedText = text;
        this.showWarned(violations);
      } else {
        this.sendNow();
      }
    }

    // Lets the page send: replays what the agent did (the send key, or a press of the send
    // control) with the guard stood aside.
    sendNow({ keepNotice = false } = {}) {
      const input = this.input();
      const text = input ? valueOf(input) : "";
      const button = root.adapters.find(document, this.selectors, "sendButton");
      this.bypass = true;
      try {
        if (this.via === "click" && button) {
          for (const kind of POINTER_EVENTS) {
            const Kind = kind.startsWith("pointer") ? PointerEvent : MouseEvent;
            button.dispatchEvent(new Kind(kind, { bubbles: true, cancelable: true, composed: true, button: 0 }));
          }
        } else if (input) {
          const ctrlKey = this.sendKeyMode() === "ctrl";
          for (const kind of KEY_EVENTS) {
            input.dispatchEvent(new KeyboardEvent(kind, {
              key: "Enter", code: "Enter", keyCode: 13, which: 13, ctrlKey, bubbles: true, cancelable: true, composed: true,
            }));
          }
        }
      } finally {
        this.bypass = false;
      }
      this.approvedText = null;
      if (!keepNotice) this.hideNotice();
      this.underline(input, "", []);
      root.ext.send({ kind: "clear_draft" });
      // A console that ignores replayed events (untrusted) keeps the draft: the agent's own next
      // press then goes straight through, the draft being checked.
      setTimeout(() => {
        const now = this.input();
        if (!now || !text.trim() || valueOf(now) !== text) return;
        this.approvedText = text;
        this.showNotice("ready", "已检查，请再按一次发送", [], []);
      }, CLEARED_WITHIN_MS);
    }

    insertText(text) {
      const input = this.input();
      if (!input) return false;
      setValue(input, text);
      input.focus();
      if ("setSelectionRange" in input) input.setSelectionRange(text.length, text.length);
      return true;
    }

    // --- drawing -----------------------------------------------------------------------------

    underline(input, text, violations) {
      this.ensureHost();
      this.violations = violations;
      this.highlight(input, violations);
      const parts = [];
      let at = 0;
      const spans = [...violations].sort((a, b) => a.start - b.start);
      for (const violation of spans) {
        if (violation.start < at) continue;
        parts.push(document.createTextNode(text.slice(at, violation.start)));
        const mark = element("mark", violation.severity, text.slice(violation.start, violation.end));
        mark.dataset.rule = violation.rule;
        parts.push(mark);
        at = violation.end;
      }
      // The trailing space keeps a final newline from collapsing, as the textarea shows it.
      parts.push(document.createTextNode(`${text.slice(at)} `));
      this.mirror.replaceChildren(...parts);
      this.mirror.hidden = !violations.length || !input || !("value" in input);
      this.place();
    }

    // Underlines a contenteditable input's own text (a textarea gets the mirror instead).
    highlight(input, violations) {
      if (typeof CSS === "undefined" || !CSS.highlights) return;
      for (const severity of ["block", "warn"]) {
        const ranges = input && !("value" in input)
          ? violations
            .filter((violation) => violation.severity === severity)
            .map((violation) => textRange(input, violation.start, violation.end))
            .filter(Boolean)
          : [];
        if (ranges.length) CSS.highlights.set(`kefu-assist-${severity}`, new Highlight(...ranges));
        else CSS.highlights.delete(`kefu-assist-${severity}`);
      }
    }

    // Lays the mirror exactly over the input and the notice just above it.
    place() {
      const input = this.input();
      if (!input || !this.host) return;
      const rect = input.getBoundingClientRect();
      if (!this.mirror.hidden) {
        const style = getComputedStyle(input);
        for (const name of [
          "font-family", "font-size", "font-weight", "line-height", "letter-spacing", "text-align",
          "padding-top", "padding-right", "padding-bottom", "padding-left", "border-top-width",
          "border-right-width", "border-bottom-width", "border-left-width", "box-sizing", "tab-size",
        ]) {
          this.mirror.style.setProperty(name, style.getPropertyValue(name));
        }
        Object.assign(this.mirror.style, {
          left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.width}px`, height: `${rect.height}px`,
          borderStyle: "solid", borderColor: "transparent",
        });
        this.mirror.scrollTop = input.scrollTop;
      }
      Object.assign(this.notice.style, {
        left: `${rect.left}px`,
        bottom: `${window.innerHeight - rect.top + 6}px`,
      });
    }

    showNotice(kind, title, violations, actions) {
      this.ensureHost();
      const list = element("ul");
      for (const violation of violations) {
        const item = element("li");
        item.append(element("span", "match", `「${violation.match}」`), ` ${violation.message}`);
        if (violation.suggestion) item.append(element("span", "advice", `（建议：${violation.suggestion}）`));
        list.append(item);
      }
      const buttons = actions.map(([label, run]) => {
        const button = element("button", "", label);
        button.type = "button";
        button.addEventListener("click", run);
        return button;
      });
      this.notice.className = `notice ${kind}`;
      this.notice.replaceChildren(element("div", "title", title), ...(violations.length ? [list] : []), ...buttons);
      this.notice.hidden = false;
      this.place();
    }

    showBlocked(input, text, violations) {
      const rewritten = rewrite(text, violations);
      const actions = rewritten !== text
        ? [["一键改写并发送", () => { setValue(this.input() || input, rewritten); this.attemptSend(); }]]
        : [];
      this.showNotice("block", "发送已拦截：请修改标出的内容", violations, actions);
    }

    showWarned(violations) {
      this.showNotice("warn", "请注意以下用语，再按回车仍可发送", violations, [["仍要发送", () => this.sendNow()]]);
    }

    showUnavailable(blocked) {
      const title = blocked ? "检查不可用：已按设置暂停发送" : "检查不可用";
      this.showNotice("unavailable", title, [], []);
    }

    hideNotice() {
      if (this.notice) this.notice.hidden = true;
    }
  }

  root.guard = { Guard, rewrite };
})();
