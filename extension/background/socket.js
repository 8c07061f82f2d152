// The service worker's one websocket to the Kefu Assist server: hello/resume, jittered
// exponential reconnect, a keep-alive ping under Chrome's 30 s idle limit, and request/answer
// matching by `id`/`ref`.
"use strict";

(() => {
  const root = (globalThis.kefu = globalThis.kefu || {});

  const PING_EVERY_MS = 20_000; // Chrome 116+ keeps the worker alive while frames flow within 30 s
  const PONG_WITHIN_MS = 10_000;
  const RETRY_BASE_MS = 500;
  // Kept below the worker's 30 s idle limit so a pending retry is not lost with the worker.
  const RETRY_CAP_MS = 10_000;
  const CLOSE_NOT_AUTHENTICATED = 4401;

  // Full jitter (AWS architecture blog): a random wait in [0, min(cap, base * 2^attempt)].
  function retryDelay(attempt, random = Math.random) {
    return Math.round(random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt));
  }

  class Connection {
    // hooks: hello() -> hello frame; onFrame(frame); onStatus(status, detail)
    constructor(hooks) {
      this.hooks = hooks;
      this.config = null;
      this.socket = null;
      this.ready = false; // welcome received on the current socket
      this.attempt = 0;
      this.retryTimer = null;
      this.pingTimer = null;
      this.pongTimer = null;
      this.pending = new Map(); // id -> {resolve, timer}
      this.nextId = 1;
      this.prefix = Math.random().toString(36).slice(2, 8);
    }

    // (Re)connects when the server address, token or platform changed.
    configure(config) {
      const same =
        this.config &&
        this.config.url === config.url &&
        this.config.token === config.token &&
        this.config.platform === config.platform;
      this.config = config;
      if (!same || !this.socket) this.reconnectNow();
    }

    reconnectNow() {
      this.attempt = 0;
      this.teardown();
      this.open();
    }

    open() {
      clearTimeout(this.retryTimer);
      if (!this.config || !this.config.url) {
        this.hooks.onStatus("disconnected", "未设置服务器地址");
        return;
      }
      if (!this.config.token) {
        this.hooks.onStatus("disconnected", "未设置令牌");
        return;
      }
      let socket;
      try {
        socket = new WebSocket(this.config.url);
      } catch (_error) {
        this.hooks.onStatus("disconnected", `服务器地址无效：${this.config.url}`);
        return;
      }
      this.socket = socket;
      this.hooks.onStatus("connecting", "正在连接…");
      socket.onopen = () => socket.send(JSON.stringify(this.hooks.hello()));
      socket.onmessage = (event) => this.receive(socket, event.data);
      socket.onclose = (event) => this.closed(socket, event.code);
    }

    receive(socket, data) {
      if (socket !== this.socket) return;
      let frame;
      try {
        frame = JSON.parse(data);
      } catch (_error) {
        return;
      }
      if (frame.type === "welcome") {
        this.ready = true;
        this.attempt = 0;
        this.startPing();
      }
      if (frame.type === "pong") clearTimeout(this.pongTimer);
      const waiter = frame.ref !== undefined && this.pending.get(frame.ref);
      if (waiter) this.settle(frame.ref, frame);
      this.hooks.onFrame(frame);
    }

    closed(socket, code) {
      if (socket !== this.socket) return;
      this.teardown();
      if (code === CLOSE_NOT_AUTHENTICATED) {
        // Retrying a refused token only repeats the refusal: wait for new settings.
        this.hooks.onStatus("disconnected", "令牌无效，请在设置中检查");
        return;
      }
      const delay = retryDelay(this.attempt);
      this.attempt += 1;
      this.hooks.onStatus("disconnected", `连接断开，${Math.ceil(delay / 1000)} 秒内重连…`);
      this.retryTimer = setTimeout(() => this.open(), delay);
    }

    teardown() {
      clearInterval(this.pingTimer);
      clearTimeout(this.pongTimer);
      clearTimeout(this.retryTimer);
      this.ready = false;
      const socket = this.socket;
      this.socket = null;
      if (socket) {
        socket.onclose = null;
        socket.close();
      }
      for (const id of [...this.pending.keys()]) this.settle(id, null);
    }

    startPing() {
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        if (!this.send({ type: "ping" })) return;
        clearTimeout(this.pongTimer);
        // No pong: the link is dead even if TCP has not noticed; drop it and reconnect.
        this.pongTimer = setTimeout(() => this.socket && this.socket.close(), PONG_WITHIN_MS);
      }, PING_EVERY_MS);
    }

    // Sends when the session is up; false otherwise (the caller decides whether to queue).
    send(frame) {
      if (!this.ready || !this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
      this.socket.send(JSON.stringify(frame));
      return true;
    }

    newId() {
      return `${this.prefix}-${this.nextId++}`;
    }

    // Sends a frame with a fresh id; resolves to the frame whose `ref` is that id, or to null
    // when not connected, on timeout, or when the connection drops first.
    request(frame, timeoutMs) {
      const id = this.newId();
      if (!this.send({ ...frame, id })) return Promise.resolve(null);
      return new Promise((resolve) => {
        const timer = setTimeout(() => this.settle(id, null), timeoutMs);
        this.pending.set(id, { resolve, timer });
      });
    }

    settle(id, frame) {
      const waiter = this.pending.get(id);
      if (!waiter) return;
      this.pending.delete(id);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
    }
  }

  root.socket = { Connection, retryDelay };
})();
