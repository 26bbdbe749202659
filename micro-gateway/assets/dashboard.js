// micro dashboard: the little script the server-rendered pages need.
// Live services list, schema trees, the call form (unary, streams), the
// copied commands, and the events page. No framework, no build step.
(() => {
  "use strict";

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  /** An element with attributes (on* as listeners) and children. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== undefined && child !== null) node.append(child);
    }
    return node;
  }

  const pretty = (value) => JSON.stringify(value, null, 2);
  const ms = (start) => `${(performance.now() - start).toFixed(1)} ms`;

  /** `key: value` lines as pairs. */
  function pairs(text) {
    const out = [];
    for (const line of text.split("\n")) {
      const at = line.indexOf(":");
      if (!line.trim()) continue;
      if (at < 1) throw new Error(`metadata line ${JSON.stringify(line)} is not key: value`);
      out.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
    }
    return out;
  }

  /** Reads a `text/event-stream` response, calling `onEvent(name, data)`. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, data.join("\n"));
      }
    }
  }

  /** An error answer (`{id, code, detail, status}`) as one line. */
  function describeError(text, httpStatus) {
    try {
      const error = JSON.parse(text);
      if (error && error.code) return { line: `${error.code} ${error.status || ""}: ${error.detail}`, error };
    } catch (_) { /* not JSON */ }
    return { line: `${httpStatus}: ${text}`, error: null };
  }

  // ---------------------------------------------------------------- services
  function servicesPage() {
    const body = $("#services tbody");
    const search = $("#search");
    const live = $("#live");

    function filter() {
      const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of $$("tr", body)) {
        const name = row.dataset.name.toLowerCase();
        const match = words.every((w) => name.includes(w));
        row.hidden = !match;
        if (match) shown += 1;
      }
      $("#empty").hidden = shown > 0;
      $("#empty").textContent = body.rows.length
        ? "No service matches the filter."
        : "No services are running. Start one and it appears here.";
    }

    function render(rows) {
      body.replaceChildren(...rows.map((row) => {
        const state = row.nodes > 0 && row.healthy === row.nodes ? "ok" : row.healthy > 0 ? "partial" : "down";
        return el("tr", { "data-name": row.name },
          el("td", {}, el("a", { href: `/services/${encodeURIComponent(row.name)}`, text: row.name })),
          el("td", {}, row.versions.map((v) => el("span", { class: "tag", text: v }))),
          el("td", { class: "num nodes", text: String(row.nodes) }),
          el("td", {}, el("span", { class: `dot ${state}`, "aria-hidden": "true" }), `${row.healthy}/${row.nodes} healthy`),
          el("td", { class: "num", text: String(row.endpoints) }),
          el("td", { class: "num", text: String(row.subscriptions) }));
      }));
      $("#service-count").textContent = String(rows.length);
      filter();
    }

    search.addEventListener("input", filter);
    document.addEventListener("keydown", (event) => {
      if (event.key === "/" && document.activeElement !== search) {
        event.preventDefault();
        search.focus();
      }
    });
    const source = new EventSource("/dashboard/api/services/live");
    source.addEventListener("open", () => live.classList.add("on"));
    source.addEventListener("error", () => live.classList.remove("on"));
    source.addEventListener("services", (event) => render(JSON.parse(event.data)));
    filter();
  }

  // ---------------------------------------------------------------- schemas
  /** `schema` with a `$ref` into `root` followed. */
  function resolve(root, schema) {
    if (!schema || typeof schema !== "object") return {};
    const ref = schema.$ref;
    if (!ref) return schema;
    if (ref === "#") return root;
    let target = root;
    for (const part of ref.replace(/^#\//, "").split("/")) {
      target = target && target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    return target || {};
  }

  const refName = (root, schema) =>
    schema.$ref === "#" ? root.title || "(this message)" : schema.$ref.split("/").pop();

  function mainType(schema) {
    const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
    return types.find((t) => t !== "null");
  }

  const isInt64 = (schema) =>
    mainType(schema) === "string" && /^\^-?\??\[0-9\]\+\$$/.test(schema.pattern || "");

  /** A short type name for people. */
  function typeName(root, schema) {
    if (!schema || typeof schema !== "object") return "any";
    if (schema.$ref) return refName(root, schema);
    if (Array.isArray(schema.enum)) return `enum(${schema.enum.join("|")})`;
    const type = mainType(schema);
    if (type === "array") return `[]${typeName(root, schema.items)}`;
    if (type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
      return `map<string, ${typeName(root, schema.additionalProperties)}>`;
    }
    if (isInt64(schema)) return schema.pattern.includes("-") ? "int64" : "uint64";
    if (schema.format) return `${type} (${schema.format})`;
    return type || "any";
  }

  const isMessage = (schema) => schema && typeof schema === "object" && schema.properties;

  /** The fields of a message as a nested list. */
  function tree(root, schema, seen = []) {
    const message = resolve(root, schema);
    if (!isMessage(message)) return el("p", { class: "empty", text: schema ? typeName(root, schema) : "no schema" });
    const list = el("ul");
    for (const [name, declared] of Object.entries(message.properties)) {
      const description = declared.description || resolve(root, declared).description || "";
      const item = el("li", {},
        el("span", { class: "name", text: name }),
        el("span", { class: "type", text: typeName(root, declared) }),
        description ? el("span", { class: "desc", text: description }) : null);
      const nested = mainType(declared) === "array" ? declared.items : declared;
      const ref = nested && nested.$ref;
      if (ref && !seen.includes(ref) && seen.length < 6 && isMessage(resolve(root, nested))) {
        item.append(tree(root, nested, seen.concat(ref)));
      }
      list.append(item);
    }
    return list;
  }

  // ---------------------------------------------------------------- form
  let fieldIds = 0;

  /**
   * An editor for one value of `schema`: `{node, get, set}`; `get()` is
   * undefined for a value left unset.
   */
  function editor(root, schema, path, seen) {
    const resolved = resolve(root, schema);
    const type = mainType(resolved);
    const id = `f${(fieldIds += 1)}`;
    if (isMessage(resolved)) return messageEditor(root, schema, path, seen, id);
    if (Array.isArray(resolved.enum)) {
      const select = el("select", { id, name: path },
        el("option", { value: "", text: "— unset —" }),
        resolved.enum.map((v) => el("option", { value: String(v), text: String(v) })));
      return {
        node: select, id,
        get: () => (select.value === "" ? undefined : resolved.enum.find((v) => String(v) === select.value)),
        set: (v) => { select.value = v === undefined || v === null ? "" : String(v); },
      };
    }
    if (type === "boolean") {
      const box = el("input", { id, name: path, type: "checkbox" });
      return { node: box, id, checkbox: true, get: () => (box.checked ? true : undefined), set: (v) => { box.checked = !!v; } };
    }
    if (type === "integer" || type === "number") {
      const input = el("input", { id, name: path, type: "number", step: type === "integer" ? "1" : "any", min: resolved.minimum, max: resolved.maximum });
      return {
        node: input, id,
        get: () => (input.value === "" ? undefined : Number(input.value)),
        set: (v) => { input.value = v === undefined || v === null ? "" : String(v); },
      };
    }
    if (type === "string") {
      const input = el("input", {
        id, name: path, type: "text", spellcheck: "false",
        inputmode: isInt64(resolved) ? "numeric" : undefined,
        pattern: resolved.pattern ? resolved.pattern.replace(/^\^|\$$/g, "") : undefined,
        placeholder: resolved.format === "date-time" ? "2024-01-31T12:00:00Z" : resolved.format === "byte" ? "base64" : undefined,
      });
      return {
        node: input, id,
        get: () => (input.value === "" ? undefined : input.value),
        set: (v) => { input.value = v === undefined || v === null ? "" : String(v); },
      };
    }
    if (type === "array") return listEditor(root, resolved, path, seen, id);
    if (type === "object" && resolved.additionalProperties && typeof resolved.additionalProperties === "object") {
      return mapEditor(root, resolved, path, seen, id);
    }
    return jsonEditor(path, id);
  }

  /** Anything else (`Value`, `Any`, a oneOf of kinds): JSON text. */
  function jsonEditor(path, id) {
    const area = el("textarea", { id, name: path, rows: "2", spellcheck: "false", placeholder: "JSON" });
    return {
      node: area, id,
      get: () => {
        if (!area.value.trim()) return undefined;
        try { return JSON.parse(area.value); } catch (e) { throw new Error(`${path}: ${e.message}`); }
      },
      set: (v) => { area.value = v === undefined ? "" : JSON.stringify(v); },
    };
  }

  function messageEditor(root, schema, path, seen, id) {
    const message = resolve(root, schema);
    const ref = schema.$ref || "#";
    const box = el("div", { class: "message", id });
    let fields = null;
    const build = () => {
      fields = [];
      box.replaceChildren();
      for (const [name, declared] of Object.entries(message.properties)) {
        const fieldPath = path ? `${path}.${name}` : name;
        const field = editor(root, declared, fieldPath, seen.concat(ref));
        const described = declared.description || resolve(root, declared).description;
        const label = el("label", { for: field.id }, name, el("span", { class: "type", text: typeName(root, declared) }));
        const wrap = isMessage(resolve(root, declared)) || field.group
          ? el("fieldset", { class: "field" }, el("legend", {}, name, " ", el("span", { class: "type", text: typeName(root, declared) })), field.node)
          : field.checkbox
            ? el("div", { class: "field check" }, field.node, label)
            : el("div", { class: "field" }, label, field.node);
        if (described) wrap.append(el("p", { class: "desc", text: described }));
        box.append(wrap);
        fields.push([name, field]);
      }
    };
    // A recursive or deep message is built when asked for.
    const lazy = path !== "" && (seen.includes(ref) || seen.length >= 4);
    if (lazy) {
      box.append(el("button", { type: "button", class: "small", onclick: build, text: `Set ${typeName(root, schema)}` }));
    } else {
      build();
    }
    return {
      node: box, id, group: true,
      get: () => {
        if (!fields) return undefined;
        const out = {};
        for (const [name, field] of fields) {
          const value = field.get();
          if (value !== undefined) out[name] = value;
        }
        return path === "" || Object.keys(out).length ? out : undefined;
      },
      set: (v) => {
        if ((v === undefined || v === null) && !fields) return;
        if (!fields) build();
        for (const [name, field] of fields) field.set(v ? v[name] : undefined);
      },
    };
  }

  function listEditor(root, schema, path, seen, id) {
    const items = el("div", { class: "items" });
    const rows = [];
    const add = (value) => {
      const item = editor(root, schema.items || {}, `${path}[]`, seen);
      const row = el("div", { class: "item" }, item.node);
      const remove = el("button", {
        type: "button", class: "small", "aria-label": `Remove item of ${path}`, text: "×",
        onclick: () => { rows.splice(rows.indexOf(entry), 1); row.remove(); },
      });
      row.append(remove);
      const entry = { item, row };
      rows.push(entry);
      items.append(row);
      if (value !== undefined) item.set(value);
      return item;
    };
    const node = el("div", { class: "list", id }, items,
      el("button", { type: "button", class: "small add", text: "+ Add item", onclick: () => { const item = add(); const focus = $("input, select, textarea, button", item.node); if (focus) focus.focus(); } }));
    return {
      node, id, group: true,
      get: () => {
        const values = rows.map(({ item }) => item.get()).map((v) => (v === undefined ? (isMessage(resolve(root, schema.items)) ? {} : null) : v));
        return values.length ? values : undefined;
      },
      set: (v) => {
        for (const { row } of rows) row.remove();
        rows.length = 0;
        if (Array.isArray(v)) v.forEach((value) => add(value));
      },
    };
  }

  function mapEditor(root, schema, path, seen, id) {
    const entries = el("div", { class: "items" });
    const rows = [];
    const add = (key, value) => {
      const keyInput = el("input", { type: "text", placeholder: "key", "aria-label": `Key in ${path}`, spellcheck: "false" });
      const item = editor(root, schema.additionalProperties, `${path}{}`, seen);
      const row = el("div", { class: "item" }, keyInput, item.node);
      const entry = { keyInput, item, row };
      row.append(el("button", { type: "button", class: "small", text: "×", "aria-label": `Remove entry of ${path}`, onclick: () => { rows.splice(rows.indexOf(entry), 1); row.remove(); } }));
      rows.push(entry);
      entries.append(row);
      if (key !== undefined) keyInput.value = key;
      if (value !== undefined) item.set(value);
    };
    const node = el("div", { class: "map", id }, entries,
      el("button", { type: "button", class: "small add", text: "+ Add entry", onclick: () => add() }));
    return {
      node, id, group: true,
      get: () => {
        const out = {};
        for (const { keyInput, item } of rows) if (keyInput.value !== "") out[keyInput.value] = item.get() ?? null;
        return Object.keys(out).length ? out : undefined;
      },
      set: (v) => {
        for (const { row } of rows) row.remove();
        rows.length = 0;
        if (v && typeof v === "object") for (const [key, value] of Object.entries(v)) add(key, value);
      },
    };
  }

  // ---------------------------------------------------------------- commands
  const quote = (text) => `'${String(text).replace(/'/g, "'\\''")}'`;

  function commands(service, endpoint, kind, body, metadata, timeout, token) {
    const streamsIn = kind === "client" || kind === "bidi";
    const flags = metadata.map(([k, v]) => ` --metadata ${quote(`${k}=${v}`)}`).join("") + (timeout ? ` --timeout ${quote(timeout)}` : "");
    const oneLine = (() => { try { return JSON.stringify(JSON.parse(body)); } catch (_) { return body; } })();
    const micro = streamsIn
      ? `printf '%s\\n' ${quote(oneLine)} | micro stream ${service} ${endpoint}${flags}`
      : `micro ${kind === "server" ? "stream" : "call"} ${service} ${endpoint} ${quote(oneLine)}${flags}`;
    const url = `${location.origin}/api/${service}/${endpoint}`;
    const headers = [];
    if (token) headers.push("Authorization: Bearer $MICRO_GATEWAY_TOKEN");
    if (kind === "server") headers.push("Accept: text/event-stream");
    for (const [k, v] of metadata) headers.push(`${k}: ${v}`);
    if (timeout) headers.push(`Timeout: ${timeout}`);
    const h = headers.map((x) => ` -H ${x.includes("$") ? `"${x}"` : quote(x)}`).join("");
    const curl = streamsIn
      ? `printf '%s\\n' ${quote(oneLine)} | curl -N ${quote(url)} -H 'Content-Type: application/x-ndjson'${h} --data-binary @-`
      : `curl${kind === "server" ? " -N" : ""} ${quote(url)} -H 'Content-Type: application/json'${h} -d ${quote(oneLine)}`;
    return { micro, curl };
  }

  async function copy(button) {
    const text = $(`#${button.dataset.copy}`).textContent;
    const label = button.innerHTML;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents($(`#${button.dataset.copy}`));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.innerHTML = label; }, 1500);
  }

  // ---------------------------------------------------------------- service
  function servicePage() {
    const data = JSON.parse($("#service-data").textContent);
    const byName = new Map(data.endpoints.map((e) => [e.name, e]));
    for (const article of $$(".endpoint")) {
      const endpoint = byName.get(article.dataset.endpoint);
      for (const box of $$(".tree", article)) {
        const schema = endpoint && (box.dataset.schema === "request" ? endpoint.requestSchema : endpoint.responseSchema);
        box.append(schema ? tree(schema, schema) : el("p", { class: "empty", text: "not described" }));
      }
    }

    const endpointInput = $("#call-endpoint");
    const fieldsBox = $("#request-fields");
    const raw = $("#request-raw");
    const modeForm = $("#mode-form");
    const modeRaw = $("#mode-raw");
    const status = $("#call-status");
    const output = $("#call-output");
    const messages = $("#call-messages");
    const send = $("#call-send");
    const stop = $("#call-stop");
    const streamSend = $("#stream-send");
    const streamEnd = $("#stream-end");
    let form = null;
    let rawMode = false;
    let shownEndpoint = null;
    let running = null; // {stop(), socket?}

    const current = () => byName.get(endpointInput.value.trim());
    const kindOf = () => (current() ? current().kind : "unary");

    function setRaw(on) {
      if (on && !rawMode && form) {
        try { raw.value = pretty(form.get() || {}); } catch (e) { showError(e.message); return; }
      }
      if (!on) {
        if (!form) return;
        try { form.set(raw.value.trim() ? JSON.parse(raw.value) : {}); } catch (e) { showError(`Raw JSON: ${e.message}`); return; }
      }
      rawMode = on;
      raw.hidden = !on;
      fieldsBox.hidden = on;
      modeRaw.setAttribute("aria-pressed", String(on));
      modeForm.setAttribute("aria-pressed", String(!on));
      updateCommands();
    }

    function choose() {
      const endpoint = current();
      $("#call-kind").textContent = endpoint ? endpoint.kind : "";
      if (endpoint === shownEndpoint) return updateCommands();
      shownEndpoint = endpoint;
      const schema = endpoint && endpoint.requestSchema;
      form = null;
      fieldsBox.replaceChildren();
      if (schema && isMessage(resolve(schema, schema))) {
        form = editor(schema, schema, "", []);
        fieldsBox.append(form.node);
        modeForm.disabled = false;
        setRaw(rawMode);
      } else {
        if (endpoint) fieldsBox.append(el("p", { class: "empty", text: "No request schema: write the request as JSON." }));
        modeForm.disabled = true;
        setRaw(true);
      }
      updateCommands();
    }

    function body() {
      if (rawMode || !form) return raw.value.trim() || "{}";
      return JSON.stringify(form.get() || {});
    }

    function updateCommands() {
      let text;
      let metadata = [];
      try { text = body(); metadata = pairs($("#call-metadata").value); } catch (_) { text = "{}"; }
      const name = endpointInput.value.trim() || "Endpoint.Method";
      const { micro, curl } = commands(data.service, name, kindOf(), text, metadata, $("#call-timeout").value.trim(), data.token);
      $("#copy-micro").textContent = micro;
      $("#copy-curl").textContent = curl;
    }

    function showError(line) {
      status.className = "status error";
      status.textContent = line;
    }

    function reset() {
      output.hidden = true;
      output.textContent = "";
      messages.hidden = true;
      messages.replaceChildren();
      status.className = "status";
      status.textContent = "";
    }

    function addMessage(text, kindClass) {
      let shown = text;
      try { shown = pretty(JSON.parse(text)); } catch (_) { /* as is */ }
      messages.hidden = false;
      messages.append(el("li", { class: kindClass, text: shown }));
      messages.lastChild.scrollIntoView({ block: "nearest" });
    }

    function running_(state) {
      running = state;
      send.disabled = !!state;
      stop.hidden = !state;
      const streaming = !!(state && state.socket);
      streamSend.hidden = !streaming;
      streamEnd.hidden = !streaming;
    }

    async function call(event) {
      event.preventDefault();
      if (running) return;
      reset();
      const name = endpointInput.value.trim();
      if (!name) return showError("Name an endpoint.");
      let text;
      let headers;
      try {
        text = body();
        headers = { "Content-Type": "application/json" };
        for (const [k, v] of pairs($("#call-metadata").value)) headers[k] = v;
        const timeout = $("#call-timeout").value.trim();
        if (timeout) headers.Timeout = timeout;
      } catch (e) {
        return showError(e.message);
      }
      updateCommands();
      const url = `/api/${encodeURIComponent(data.service)}/${encodeURIComponent(name)}`;
      const kind = kindOf();
      if (kind === "client" || kind === "bidi") return openSocket(url, text);
      const controller = new AbortController();
      const started = performance.now();
      running_({ stop: () => controller.abort() });
      status.textContent = "Calling…";
      try {
        if (kind === "server") headers.Accept = "text/event-stream";
        const response = await fetch(url, { method: "POST", headers, body: text, signal: controller.signal, credentials: "same-origin" });
        const type = response.headers.get("content-type") || "";
        if (response.ok && type.startsWith("text/event-stream")) {
          let count = 0;
          status.textContent = "Streaming…";
          await readEvents(response, (name_, payload) => {
            if (name_ === "error") {
              addMessage(payload, "error");
              showError(`Stream ended with ${describeError(payload, "error").line}`);
            } else {
              count += 1;
              addMessage(payload, "");
              status.textContent = `Streaming… ${count} message${count === 1 ? "" : "s"}`;
            }
          });
          if (!status.classList.contains("error")) {
            status.className = "status ok";
            status.textContent = `Done: ${count} message${count === 1 ? "" : "s"} in ${ms(started)}`;
          }
          return;
        }
        const answer = await response.text();
        output.hidden = false;
        if (response.ok) {
          status.className = "status ok";
          status.textContent = `${response.status} OK · ${ms(started)}`;
          try { output.textContent = pretty(JSON.parse(answer)); } catch (_) { output.textContent = answer; }
        } else {
          const { line, error } = describeError(answer, response.status);
          showError(`${response.status} · ${ms(started)} · ${line}`);
          output.textContent = error ? pretty(error) : answer;
        }
      } catch (e) {
        if (e.name === "AbortError") {
          status.className = "status";
          status.textContent = `Stopped after ${ms(started)}.`;
        } else {
          showError(`The call failed: ${e.message}`);
        }
      } finally {
        running_(null);
      }
    }

    function openSocket(url, first) {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${scheme}//${location.host}${url}`);
      const started = performance.now();
      let count = 0;
      status.textContent = "Opening the stream…";
      running_({ socket, stop: () => socket.close(1000) });
      socket.addEventListener("open", () => {
        status.textContent = "Open: send messages one by one, then end the requests.";
        socket.send(first);
        addMessage(first, "sent");
      });
      socket.addEventListener("message", (event) => {
        let parsed = null;
        try { parsed = JSON.parse(event.data); } catch (_) { /* text */ }
        if (parsed && parsed.error) {
          addMessage(pretty(parsed.error), "error");
          showError(`Stream failed: ${describeError(JSON.stringify(parsed.error), "error").line}`);
        } else {
          count += 1;
          addMessage(event.data, "");
        }
      });
      socket.addEventListener("close", (event) => {
        if (!status.classList.contains("error")) {
          status.className = event.code === 1000 ? "status ok" : "status error";
          status.textContent = `Closed (${event.code}${event.reason ? `: ${event.reason}` : ""}): ${count} response${count === 1 ? "" : "s"} in ${ms(started)}`;
        }
        running_(null);
      });
    }

    streamSend.addEventListener("click", () => {
      if (!running || !running.socket) return;
      try {
        const text = body();
        running.socket.send(text);
        addMessage(text, "sent");
      } catch (e) { showError(e.message); }
    });
    streamEnd.addEventListener("click", () => {
      if (running && running.socket) {
        running.socket.send("");
        streamSend.hidden = true;
        streamEnd.hidden = true;
      }
    });
    stop.addEventListener("click", () => running && running.stop());
    $("#call-form").addEventListener("submit", call);
    $("#call-form").addEventListener("input", (event) => {
      if (event.target === endpointInput) choose(); else updateCommands();
    });
    $("#call-form").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $("#call-form").requestSubmit();
      }
    });
    $("#call-form").addEventListener("click", () => setTimeout(updateCommands));
    modeForm.addEventListener("click", () => setRaw(false));
    modeRaw.addEventListener("click", () => setRaw(true));
    for (const button of $$("[data-call]")) {
      button.addEventListener("click", () => {
        endpointInput.value = button.dataset.call;
        choose();
        reset();
        $("#call").scrollIntoView({ behavior: "smooth", block: "start" });
        const first = $("input, select, textarea", rawMode ? raw.parentNode : fieldsBox) || raw;
        (rawMode ? raw : first).focus({ preventScroll: true });
      });
    }
    for (const button of $$("[data-copy]")) button.addEventListener("click", () => copy(button));
    choose();
  }

  // ---------------------------------------------------------------- events
  function eventsPage() {
    const topicFromHash = decodeURIComponent(location.hash.slice(1));
    if (topicFromHash) {
      $("#publish-topic").value = topicFromHash;
      $("#tail-topic").value = topicFromHash;
    }
    const result = $("#publish-result");
    $("#publish").addEventListener("submit", async (event) => {
      event.preventDefault();
      result.className = "result";
      let message;
      let metadata;
      try {
        message = JSON.parse($("#publish-message").value || "{}");
        metadata = Object.fromEntries(pairs($("#publish-metadata").value));
      } catch (e) {
        result.className = "result status error";
        result.textContent = e.message;
        return;
      }
      const topic = $("#publish-topic").value.trim();
      const response = await fetch("/dashboard/api/publish", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ topic, message, metadata }),
        credentials: "same-origin",
      });
      const text = await response.text();
      if (response.ok) {
        result.className = "result status ok";
        result.textContent = `Published to ${topic} at ${new Date().toLocaleTimeString()}.`;
      } else {
        result.className = "result status error";
        result.textContent = `${response.status} · ${describeError(text, response.status).line}`;
      }
    });

    const list = $("#tail-messages");
    const tailStatus = $("#tail-status");
    const start = $("#tail-start");
    const stopButton = $("#tail-stop");
    let controller = null;
    const stopTail = () => { if (controller) controller.abort(); };
    stopButton.addEventListener("click", stopTail);
    $("#tail-clear").addEventListener("click", () => list.replaceChildren());
    $("#tail").addEventListener("submit", async (event) => {
      event.preventDefault();
      stopTail();
      const topic = $("#tail-topic").value.trim();
      controller = new AbortController();
      const mine = controller;
      start.disabled = true;
      stopButton.disabled = false;
      tailStatus.className = "result";
      tailStatus.textContent = `Subscribing to ${topic}…`;
      try {
        const response = await fetch(`/dashboard/api/subscribe?topic=${encodeURIComponent(topic)}`, {
          headers: { Accept: "text/event-stream" }, signal: mine.signal, credentials: "same-origin",
        });
        if (!response.ok) {
          tailStatus.className = "result status error";
          tailStatus.textContent = `${response.status} · ${describeError(await response.text(), response.status).line}`;
          return;
        }
        await readEvents(response, (name, payload) => {
          if (name === "subscribed") {
            tailStatus.className = "result status ok";
            tailStatus.textContent = `Listening to ${topic}: messages appear as they are published.`;
            return;
          }
          const item = JSON.parse(payload);
          list.prepend(el("li", {},
            el("div", { class: "hint", text: `${new Date().toLocaleTimeString()} · ${item.topic}` }),
            pretty(item.body)));
        });
        tailStatus.className = "result";
        tailStatus.textContent = "The subscription ended.";
      } catch (e) {
        tailStatus.className = "result";
        tailStatus.textContent = e.name === "AbortError" ? `Stopped listening to ${topic}.` : `The subscription failed: ${e.message}`;
      } finally {
        if (controller === mine) {
          controller = null;
          start.disabled = false;
          stopButton.disabled = true;
        }
      }
    });
  }

  const pages = { services: servicesPage, service: servicePage, events: eventsPage };
  const page = pages[document.body.dataset.page];
  if (page) page();
})();
