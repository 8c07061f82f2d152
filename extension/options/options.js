// Options page: server address, token, fail-closed, and per-console selector sets for team leads.
// Selector sets are validated with the same code the content script uses before they are saved.
"use strict";

(() => {
  const { ext, settings, adapters } = globalThis.kefu;
  const form = document.getElementById("settings");
  const status = document.getElementById("status");
  const field = (name) => form.elements.namedItem(name);

  function say(text, isError = false) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function adapterEditor(adapter, selectors) {
    const box = document.createElement("div");
    box.className = "adapter";
    const title = document.createElement("h3");
    title.textContent = `${adapter.name}（${adapter.hosts.join("、")}）${adapter.enabled === false ? "：默认关闭" : ""}`;
    const textarea = document.createElement("textarea");
    textarea.name = `adapter-${adapter.id}`;
    textarea.spellcheck = false;
    textarea.value = JSON.stringify(selectors, null, 2);
    const errors = document.createElement("ul");
    errors.className = "errors";
    errors.dataset.adapter = adapter.id;
    const reset = document.createElement("button");
    reset.type = "button";
    reset.textContent = "恢复默认";
    reset.addEventListener("click", () => {
      textarea.value = JSON.stringify(adapter.selectors, null, 2);
      errors.replaceChildren();
    });
    box.append(title, textarea, errors, reset);
    return box;
  }

  // Parses and validates one editor; returns [selectors, problems].
  function readEditor(adapter) {
    const textarea = field(`adapter-${adapter.id}`);
    let selectors;
    try {
      selectors = JSON.parse(textarea.value);
    } catch (error) {
      return [null, [`JSON 格式错误：${error.message}`]];
    }
    return [selectors, adapters.validate(selectors)];
  }

  let builtin = []; // the bundled adapter sets, read once

  async function load() {
    builtin = await adapters.loadBuiltin();
    const current = await settings.load();
    const overrides = await settings.loadAdapterOverrides();
    field("server-url").value = current.serverUrl;
    field("token").value = current.token;
    field("fail-closed").checked = current.failClosed;
    document.getElementById("adapters").replaceChildren(
      ...builtin.map((adapter) => adapterEditor(adapter, overrides[adapter.id] || adapter.selectors)),
    );
  }

  async function save(event) {
    event.preventDefault();
    const serverUrl = field("server-url").value.trim();
    if (!/^wss?:\/\/./.test(serverUrl)) {
      say(`服务器地址必须以 ws:// 或 wss:// 开头：'${serverUrl}'`, true);
      return;
    }
    const overrides = {};
    let invalid = false;
    for (const adapter of builtin) {
      const [selectors, problems] = readEditor(adapter);
      const list = form.querySelector(`.errors[data-adapter="${adapter.id}"]`);
      list.replaceChildren(...problems.map((problem) => Object.assign(document.createElement("li"), { textContent: problem })));
      invalid = invalid || problems.length > 0;
      // Only differences from the defaults are stored, so later default fixes still reach users.
      if (!problems.length && JSON.stringify(selectors) !== JSON.stringify(adapter.selectors)) {
        overrides[adapter.id] = selectors;
      }
    }
    if (invalid) {
      say("选择器配置有误，未保存", true);
      return;
    }
    await ext.local.set("adapterOverrides", overrides);
    await ext.local.set("settings", {
      serverUrl,
      token: field("token").value.trim(),
      failClosed: field("fail-closed").checked,
    });
    say("已保存");
  }

  form.addEventListener("submit", save);
  load();
})();
