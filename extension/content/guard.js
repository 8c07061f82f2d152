// The send-time guard: intercepts Enter and the send button, checks the draft on the server
// (`check` with final: true) and blocks, warns or lets it through; while typing, a debounced
// check underlines problems through a mirror element laid over the input box.
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

  const isEnterToSend = (event) =>
    event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey &&
    !event.isComposing && event.keyCode !== 229; // 229: an IME is still composing

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

  class Guard {
    // adapter: the page adapter; options: {failClosed, conversation: () => string|null}
    constructor(adapter, options) {
      this.selectors = adapter.selectors;
      this.options = options;
      this.bypass = false; // set while the guard itself triggers the page's send
      this.busy = false;
      this.approvedText = null; // a warned draft the agent chose to send anyway
      this.typingTimer = null;
      this.host = element("kefu-assist-guard");
      const shadow = this.host.attachShadow({ mode: "open" });
      const style = element("style", "", STYLE);
      this.mirror = element("div", "mirror");
      this.notice = element("div", "notice");
      this.notice.hidden = true;
      shadow.append(style, this.mirror, this.notice);
      document.documentElement.append(this.host);
      this.violations = [];
    }

    install() {
      window.addEventListener("keydown", (event) => this.onKeydown(event), true);
      window.addEventListener("click", (event) => this.onClick(event), true);
      window.addEventListener("input", (event) => this.onInput(event), true);
      window.addEventListener("scroll", () => this.place(), true);
      window.addEventListener("resize", () => this.place());
    }

    input() {
      return document.querySelector(this.selectors.input);
    }

    isInput(target) {
      return target instanceof Element && target.closest(this.selectors.input) !== null;
    }

    onKeydown(event) {
      if (this.bypass || !isEnterToSend(event) || !this.isInput(event.target)) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      this.attemptSend();
    }

    onClick(event) {
      if (this.bypass || !(event.target instanceof Element)) return;
      if (!event.target.closest(this.selectors.sendButton)) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      this.attemptSend();
    }

    onInput(event) {
      if (!this.isInput(event.target)) return;
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
      if (valueOf(input) !== text) return; // typed on meanwhile: a newer check is coming
      if (result.unavailable) this.showUnavailable(false);
      this.underline(input, text, result.violations);
    }

    async check(text, final) {
      const deadline = new Promise((resolve) => setTimeout(() => resolve(UNAVAILABLE), WORKER_DEADLINE_MS));
      const answer = root.ext
        .send({ kind: "check", text, conversation: this.options.conversation(), final })
        .then((result) => (result && !result.error ? result : UNAVAILABLE));
      return Promise.race([answer, deadline]);
    }

    async attemptSend() {
      const input = this.input();
      if (this.busy || !input) return;
      const text = valueOf(input);
      if (!text.trim() || text === this.approvedText) {
        this.sendNow();
        return;
      }
      this.busy = true;
      try {
        const result = await this.check(text, true);
        if (valueOf(input) !== text) return; // edited while the check ran: the agent sends again
        this.decide(input, text, result);
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

    // Lets the page send: clicks its send button with the guard stood aside.
    sendNow({ keepNotice = false } = {}) {
      const input = this.input();
      const button = document.querySelector(this.selectors.sendButton);
      this.bypass = true;
      try {
        if (button) button.click();
        else if (input) input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", keyCode: 13, bubbles: true }));
      } finally {
        this.bypass = false;
      }
      this.approvedText = null;
      if (!keepNotice) this.hideNotice();
      this.underline(input, "", []);
      root.ext.send({ kind: "clear_draft" });
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
      this.violations = violations;
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

    // Lays the mirror exactly over the input and the notice just above it.
    place() {
      const input = this.input();
      if (!input) return;
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
        ? [["一键改写并发送", () => { setValue(input, rewritten); this.attemptSend(); }]]
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
      this.notice.hidden = true;
    }
  }

  root.guard = { Guard, rewrite };
})();
