// The playground page: the store's threads and items (read through the playground's
// JSON API), widgets drawn by render.js, their actions sent to the ChatKit endpoint
// exactly as ChatKit.js sends them, and every request and event in the log.
//
// Nothing here writes HTML from data: every node is built with createElement and
// textContent. Errors go to the event log and the banner, never to the console.

import { applyItemUpdate, readEvents } from "./events.js";
import { renderMarkdown } from "./markdown.js";
import { renderWidget } from "./render.js";

const BASE = document.body.dataset.base;
const ENDPOINT = document.body.dataset.endpoint;
const HIDDEN = new Set(["hidden_context_item", "sdk_hidden_context"]);
// ``loadingBehavior: "auto"`` as ChatKit resolves it, by where the action is bound.
const AUTO_LOADING = { click: "self", submit: "container", change: "none", confirm: "container", cancel: "container" };

const $ = (id) => document.getElementById(id);

const state = {
  threads: [],
  threadsAfter: null,
  thread: null,
  items: [],
  hasMore: false,
  problems: {},
  run: null, // the stream running: {controller, allowCancel, startedAt, stopped}
  actions: 0, // actions sent so far: a read-back older than the last action is not drawn
  gallery: [],
  templates: [],
  pickedWidget: null, // the widget JSON a sample or template gave, to name its thread after it
};

class PlaygroundError extends Error {}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------ the event log

function clock() {
  const now = new Date();
  return `${now.toTimeString().slice(0, 8)}.${String(now.getMilliseconds()).padStart(3, "0")}`;
}

function log(kind, title, data, { error = null, startedAt = null, eventType = null } = {}) {
  const entry = el("li", `pg-entry pg-${kind}`);
  entry.dataset.kind = kind;
  if (eventType) entry.dataset.eventType = eventType;
  const details = el("details");
  const summary = el("summary");
  summary.append(el("span", "pg-time", clock()));
  if (startedAt !== null) summary.append(el("span", "pg-delta", `+${Math.round(performance.now() - startedAt)} ms`));
  summary.append(el("span", "pg-entry-title", title));
  if (error) {
    entry.classList.add("pg-error");
    summary.append(el("span", "pg-error-message", error));
  }
  details.append(summary);
  if (data !== undefined) details.append(el("pre", "pg-json", typeof data === "string" ? data : JSON.stringify(data, null, 2)));
  entry.append(details);
  const list = $("pg-log-entries");
  list.append(entry);
  list.parentElement.scrollTop = list.parentElement.scrollHeight;
  return entry;
}

function errorText(data, status) {
  if (data && typeof data === "object" && data.type === "error") {
    return data.message ? `${data.code}: ${data.message}` : String(data.code);
  }
  return `HTTP ${status}${typeof data === "string" && data ? `: ${data.slice(0, 200)}` : ""}`;
}

async function readJson(response) {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

// ------------------------------------------------------------------ banner, progress, notices

function showBanner(message, level = "danger") {
  const banner = $("pg-banner");
  banner.className = `pg-banner pg-${level}`;
  banner.textContent = message;
  banner.hidden = false;
}

function clearBanner() {
  $("pg-banner").hidden = true;
}

function showProgress(event) {
  const progress = $("pg-progress");
  progress.replaceChildren();
  if (event.icon) progress.append(el("span", "pg-progress-icon", "◌"));
  progress.append(el("span", "pg-progress-text", String(event.text ?? "")));
  progress.hidden = false;
}

function showNotice(level, title, message) {
  const notices = $("pg-notices");
  const notice = el("li", `pg-notice pg-${["info", "warning", "danger"].includes(level) ? level : "info"}`);
  if (title) notice.append(el("strong", null, `${title} `));
  notice.append(document.createTextNode(String(message ?? "")));
  notices.append(notice);
  while (notices.children.length > 4) notices.firstElementChild.remove();
}

// ------------------------------------------------------------------ the playground's API

async function api(method, path, body) {
  const url = `${BASE}/api${path}`;
  const startedAt = performance.now();
  log("request", `${method} ${url}`, body);
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await readJson(response);
  const error = response.ok ? null : errorText(data, response.status);
  log("response", `${response.status} ${method} ${url}`, data, { error, startedAt });
  if (!response.ok) throw new PlaygroundError(error);
  return data;
}

async function loadThreads({ more = false } = {}) {
  const query = new URLSearchParams({ order: "desc", limit: "50" });
  if (more && state.threadsAfter) query.set("after", state.threadsAfter);
  const page = await api("GET", `/threads?${query}`);
  state.threads = more ? state.threads.concat(page.data) : page.data;
  state.threadsAfter = page.has_more ? page.after : null;
  drawThreadList();
}

async function openThread(id) {
  const detail = await api("GET", `/threads/${encodeURIComponent(id)}`);
  state.thread = detail.thread;
  state.items = detail.items;
  state.hasMore = detail.has_more;
  state.problems = detail.problems;
  clearBanner();
  $("pg-progress").hidden = true;
  drawThread();
}

// The visible items as the client holds them: ids in order, and each widget's JSON.
function shownState(items) {
  const canonical = (value) => {
    if (Array.isArray(value)) return value.map(canonical);
    if (!value || typeof value !== "object") return value;
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
  };
  return JSON.stringify(
    items.filter((item) => !HIDDEN.has(item.type)).map((item) => [item.id, item.type === "widget" ? canonical(item.widget) : item.type]),
  );
}

// After an action: the thread as stored (hidden context included), and a warning when it
// is not what the client was left showing (ChatKit would show that until a reload).
async function refresh() {
  if (!state.thread) return;
  const actions = state.actions;
  let detail;
  try {
    detail = await api("GET", `/threads/${encodeURIComponent(state.thread.id)}`);
  } catch (error) {
    showBanner(error.message);
    return;
  }
  // Another action started meanwhile: what was read may predate it, and its own read-back follows.
  if (actions !== state.actions || state.run) return;
  if (shownState(detail.items) !== shownState(state.items)) {
    log("warning", "the store differs from what the client shows (ChatKit shows the client's until a reload)", {
      client: state.items.filter((item) => !HIDDEN.has(item.type)),
      store: detail.items.filter((item) => !HIDDEN.has(item.type)),
    });
  }
  state.thread = detail.thread;
  state.items = detail.items;
  state.hasMore = detail.has_more;
  state.problems = detail.problems;
  drawThread();
}

// ------------------------------------------------------------------ drawing

function drawThreadList() {
  const list = $("pg-thread-list");
  list.replaceChildren();
  for (const thread of state.threads) {
    const entry = el("li");
    const button = el("button", "pg-thread-link");
    button.type = "button";
    button.dataset.threadId = thread.id;
    if (state.thread && state.thread.id === thread.id) button.classList.add("pg-selected");
    button.append(el("span", "pg-thread-name", thread.title || "(untitled)"), el("code", "pg-thread-code", thread.id));
    button.addEventListener("click", () => {
      location.hash = `thread=${encodeURIComponent(thread.id)}`;
    });
    entry.append(button);
    list.append(entry);
  }
  if (!state.threads.length) list.append(el("li", "pg-empty", "No threads yet: try a widget below."));
  $("pg-more-threads").hidden = state.threadsAfter === null;
}

function drawThreadHeader() {
  $("pg-thread-title").textContent = state.thread ? state.thread.title || "(untitled)" : "No thread selected";
  $("pg-thread-id").textContent = state.thread ? state.thread.id : "";
  const listed = state.threads.find((thread) => state.thread && thread.id === state.thread.id);
  if (listed && state.thread) {
    listed.title = state.thread.title;
    drawThreadList();
  }
}

function drawThread() {
  drawThreadHeader();
  const items = $("pg-items");
  items.replaceChildren(...state.items.map(drawItem));
  if (state.hasMore) items.append(el("p", "pg-empty", "Only the first 1000 items are shown."));
  if (!state.items.length) items.append(el("p", "pg-empty", "This thread has no items."));
  drawThreadList();
}

function upsertItem(item) {
  const index = state.items.findIndex((known) => known.id === item.id);
  if (index >= 0) state.items[index] = item;
  else state.items.push(item);
  const fresh = drawItem(item);
  const old = $("pg-items").querySelector(`[data-item-id="${CSS.escape(item.id)}"]`);
  if (old) old.replaceWith(fresh);
  else $("pg-items").append(fresh);
}

function removeItem(id) {
  state.items = state.items.filter((item) => item.id !== id);
  $("pg-items").querySelector(`[data-item-id="${CSS.escape(id)}"]`)?.remove();
}

function itemFrame(item, className, label) {
  const frame = el("article", `pg-item ${className}`);
  frame.dataset.itemId = item.id;
  frame.dataset.itemType = item.type;
  frame.append(el("div", "pg-item-meta", `${label} · ${item.id}`));
  return frame;
}

function textOf(part) {
  return typeof part?.text === "string" ? part.text : "";
}

function drawItem(item) {
  if (item.type === "widget") return drawWidgetItem(item);
  if (item.type === "assistant_message") {
    const frame = itemFrame(item, "pg-message pg-assistant", "assistant");
    const body = el("div", "pg-bubble");
    body.append(renderMarkdown((item.content || []).map(textOf).join("\n\n")));
    frame.append(body);
    return frame;
  }
  if (item.type === "user_message") {
    const frame = itemFrame(item, "pg-message pg-user", "user");
    const body = el("div", "pg-bubble");
    for (const part of item.content || []) {
      if (part.type === "input_tag") body.append(el("span", "pg-tag", `@${part.text ?? part.id ?? ""}`));
      else body.append(el("span", null, textOf(part)));
    }
    frame.append(body);
    return frame;
  }
  if (HIDDEN.has(item.type)) {
    const frame = itemFrame(item, "pg-hidden", "hidden context: the model sees it, ChatKit never shows it");
    const content = item.content;
    frame.append(el("pre", "pg-hidden-content", typeof content === "string" ? content : JSON.stringify(content, null, 2)));
    return frame;
  }
  const frame = itemFrame(item, "pg-other", item.type);
  frame.append(el("pre", "pg-json", JSON.stringify(item, null, 2)));
  return frame;
}

function drawWidgetItem(item) {
  const frame = itemFrame(item, "pg-widget-item", "widget");
  const root = renderWidget(item.widget, {
    bind: (node, config, kind, extra) => bind(node, config, kind, extra, item.id),
  });
  // A form never navigates: ChatKit sends actions instead (and the page forbids form posts).
  for (const form of [root, ...root.querySelectorAll("form")]) {
    if (form.tagName === "FORM") form.addEventListener("submit", (event) => event.preventDefault());
  }
  frame.append(root);
  const problems = state.problems[item.id];
  if (problems && problems.length) {
    const list = el("ul", "pg-problems");
    list.append(el("li", "pg-problems-title", "The router would refuse:"));
    for (const problem of problems) list.append(el("li", null, problem));
    frame.append(list);
  }
  return frame;
}

// ------------------------------------------------------------------ actions

function bind(node, config, kind, extra, itemId) {
  if (kind === "submit") {
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!node.reportValidity()) {
        log("client", `${config.type}: not sent, a field of the form is invalid (ChatKit blocks it too)`);
        return;
      }
      fire(config, { kind, node: event.submitter || node, form: node }, itemId);
    });
  } else if (kind === "change") {
    node.addEventListener("change", () => {
      const value = node.type === "checkbox" ? node.checked : node.value;
      fire(config, { kind, node, form: node.closest("form"), name: node.name, value }, itemId);
    });
  } else {
    const form = extra.form || node.closest("form");
    const go = (event) => {
      event.preventDefault();
      if (kind === "confirm" && extra.form && !extra.form.reportValidity()) {
        log("client", `${config.type}: not sent, a field of the card is invalid (ChatKit blocks it too)`);
        return;
      }
      fire(config, { kind, node, form }, itemId);
    };
    node.addEventListener("click", go);
    if (node.tagName !== "BUTTON") {
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") go(event);
      });
    }
  }
}

function setPath(target, name, value) {
  const parts = name.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== "object") node[part] = {};
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

// Every named field of the form, keyed by its name (``a.b`` nests), as ChatKit collects them.
function formValues(form) {
  const values = {};
  if (!form) return values;
  for (const control of form.elements) {
    if (!control.name || control.disabled || control.tagName === "BUTTON") continue;
    if (control.type === "checkbox") setPath(values, control.name, control.checked);
    else if (control.type === "radio") {
      if (control.checked) setPath(values, control.name, control.value);
    } else if (!((control.tagName === "SELECT" || control.type === "date") && control.value === "")) {
      setPath(values, control.name, control.value);
    }
  }
  return values;
}

function payloadOf(config, values) {
  const predefined = config.payload;
  if (!Object.keys(values).length) return predefined;
  if (predefined === undefined || predefined === null) return values;
  if (typeof predefined !== "object" || Array.isArray(predefined)) return predefined;
  const ignored = Object.keys(values).filter((key) => key in predefined);
  if (ignored.length) {
    log("warning", `${config.type}: form values ${ignored.join(", ")} ignored: the action's payload sets them`, undefined, {
      error: "payload key collision",
    });
  }
  return { ...values, ...predefined };
}

function showLoading(behavior, node) {
  if (behavior === "self") {
    const wasDisabled = node.disabled;
    node.classList.add("ck-loading");
    node.setAttribute("aria-busy", "true");
    if ("disabled" in node) node.disabled = true;
    return () => {
      node.classList.remove("ck-loading");
      node.removeAttribute("aria-busy");
      if ("disabled" in node) node.disabled = wasDisabled;
    };
  }
  if (behavior === "container") {
    const root = node.closest(".ck-widget-root");
    if (!root) return () => {};
    root.classList.add("ck-loading-container");
    root.inert = true;
    return () => {
      root.classList.remove("ck-loading-container");
      root.inert = false;
    };
  }
  return () => {};
}

async function fire(config, origin, itemId) {
  const values = formValues(origin.form);
  if (origin.kind === "change" && origin.name) setPath(values, origin.name, origin.value);
  const action = { type: config.type };
  const payload = payloadOf(config, values);
  if (payload !== undefined) action.payload = payload;
  if (config.handler === "client") {
    log("client", `${config.type}: handled by the client (handler: "client"), not sent`, { action, item_id: itemId });
    return;
  }
  if (state.run) {
    log("client", `${config.type}: not sent, a stream is running (ChatKit disables widgets meanwhile)`);
    return;
  }
  const streaming = config.streaming !== false;
  const request = {
    type: streaming ? "threads.custom_action" : "threads.sync_custom_action",
    params: { thread_id: state.thread.id, item_id: itemId, action },
  };
  state.actions += 1;
  const behavior = config.loadingBehavior && config.loadingBehavior !== "auto" ? config.loadingBehavior : AUTO_LOADING[origin.kind];
  const stopLoading = showLoading(behavior, origin.node);
  clearBanner();
  try {
    if (streaming) await stream(request);
    else await sync(request);
  } finally {
    stopLoading();
  }
  await refresh();
}

async function post(request, signal) {
  return fetch(ENDPOINT, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
    signal,
  });
}

function refused(request, response, data, startedAt) {
  const message = errorText(data, response.status);
  log("response", `${response.status} ${request.type} ${request.params.action.type}`, data, { error: message, startedAt });
  showBanner(message);
}

async function sync(request) {
  const startedAt = performance.now();
  log("request", `POST ${ENDPOINT} ${request.type} ${request.params.action.type}`, request);
  let response;
  try {
    response = await post(request);
  } catch (error) {
    log("error", "the request failed", String(error), { error: error.message, startedAt });
    showBanner(`the request failed: ${error.message}`);
    return;
  }
  const data = await readJson(response);
  if (!response.ok) return refused(request, response, data, startedAt);
  log("response", `${response.status} ${request.type} ${request.params.action.type}`, data, { startedAt });
  if (data && data.updated_item) upsertItem(data.updated_item);
}

function setRunning(running) {
  const run = state.run;
  $("pg-items").inert = running; // ChatKit disables the thread's widgets while a stream runs
  $("pg-items").classList.toggle("pg-busy", running);
  $("pg-status").textContent = running ? "streaming…" : "";
  const stop = $("pg-stop");
  stop.disabled = !(running && run && run.allowCancel);
  stop.title = running && run && !run.allowCancel ? "this action may not be stopped (allow_cancel: false)" : "";
}

async function stream(request) {
  const run = { controller: new AbortController(), allowCancel: false, startedAt: performance.now(), stopped: false };
  state.run = run;
  setRunning(true);
  log("request", `POST ${ENDPOINT} ${request.type} ${request.params.action.type}`, request);
  try {
    const response = await post(request, run.controller.signal);
    const contentType = response.headers.get("content-type") || "";
    if (!response.ok || !contentType.startsWith("text/event-stream")) {
      return refused(request, response, await readJson(response), run.startedAt);
    }
    log("response", `${response.status} ${request.type} ${request.params.action.type}: event stream`, undefined, {
      startedAt: run.startedAt,
    });
    for await (const event of readEvents(response.body)) {
      const detail = event.type === "thread.item.updated" ? ` ${event.update?.type}` : "";
      const error = event.type === "error" ? event.message || event.code : null;
      log("event", `${event.type}${detail}`, event, { startedAt: run.startedAt, eventType: event.type, error });
      apply(event, run);
    }
    log("info", "the stream ended", undefined, { startedAt: run.startedAt });
  } catch (error) {
    if (run.stopped) {
      log("client", "stopped: the client hung up, as ChatKit's stop button does (nothing the stream yielded is saved)", undefined, {
        startedAt: run.startedAt,
      });
    } else {
      log("error", "the stream failed", String(error), { error: error.message, startedAt: run.startedAt });
      showBanner(`the stream failed: ${error.message}`);
    }
  } finally {
    state.run = null;
    setRunning(false);
    $("pg-progress").hidden = true;
  }
}

function apply(event, run) {
  switch (event.type) {
    case "stream_options":
      run.allowCancel = Boolean(event.stream_options && event.stream_options.allow_cancel);
      setRunning(true);
      break;
    case "thread.item.added":
    case "thread.item.done":
    case "thread.item.replaced":
      if (!HIDDEN.has(event.item.type)) upsertItem(event.item); // (chatkit never sends hidden ones)
      break;
    case "thread.item.removed":
      removeItem(event.item_id);
      break;
    case "thread.item.updated": {
      const item = state.items.find((known) => known.id === event.item_id);
      if (!item) {
        log("warning", `thread.item.updated for ${event.item_id}, which the client does not hold`, undefined, { error: "unknown item" });
        break;
      }
      const { item: updated, problem } = applyItemUpdate(item, event.update);
      if (problem) log("warning", problem, undefined, { error: problem });
      else upsertItem(updated);
      break;
    }
    case "thread.updated":
      state.thread = event.thread;
      drawThreadHeader();
      break;
    case "progress_update":
      showProgress(event);
      break;
    case "notice":
      showNotice(event.level, event.title, event.message);
      break;
    case "client_effect":
      showNotice("info", "client effect", `${event.name} ${JSON.stringify(event.data ?? {})}`);
      break;
    case "error":
      showBanner(event.message || event.code);
      break;
    default:
      break;
  }
}

// ------------------------------------------------------------------ try a widget

async function loadSamples() {
  try {
    const response = await fetch(`${BASE}/static/gallery.json`, { credentials: "same-origin" });
    state.gallery = await response.json();
  } catch (error) {
    log("error", "could not load the sample widgets", String(error), { error: error.message });
  }
  state.gallery.forEach((sample, index) => {
    const option = el("option", null, sample.name);
    option.value = `sample:${index}`;
    $("pg-gallery").append(option);
  });
  try {
    state.templates = (await api("GET", "/templates")).data;
  } catch (error) {
    showBanner(error.message);
  }
  state.templates.forEach((template, index) => {
    const option = el("option", null, template.file ? `${template.name} (${template.file})` : template.name);
    option.value = `template:${index}`;
    $("pg-templates").append(option);
  });
  $("pg-templates").hidden = !state.templates.length;
}

// What "Start from" names: a sample ({name, widget}) or a template ({name, sample_data, ...}).
function picked() {
  const [kind, index] = $("pg-sample").value.split(":");
  if (kind === "sample") return { kind, ...state.gallery[Number(index)] };
  if (kind === "template") return { kind, ...state.templates[Number(index)] };
  return null;
}

function pickSample() {
  const choice = picked();
  $("pg-template").hidden = !choice || choice.kind !== "template";
  if (!choice) return;
  if (choice.kind === "sample") {
    $("pg-widget-json").value = JSON.stringify(choice.widget, null, 2);
  } else {
    $("pg-template-json").value = JSON.stringify(choice.sample_data ?? {}, null, 2);
    renderTemplate();
  }
  state.pickedWidget = choice.kind === "sample" ? $("pg-widget-json").value : null;
}

async function renderTemplate() {
  const choice = picked();
  if (!choice || choice.kind !== "template") return;
  let data;
  try {
    data = JSON.parse($("pg-template-json").value);
  } catch (error) {
    showBanner(`The template's data is not JSON: ${error.message}`);
    return;
  }
  clearBanner();
  try {
    const rendered = await api("POST", "/templates/render", { name: choice.name, data });
    $("pg-widget-json").value = JSON.stringify(rendered.widget, null, 2);
    state.pickedWidget = $("pg-widget-json").value;
  } catch (error) {
    showBanner(error.message);
  }
}

async function createWidgetThread() {
  let widget;
  try {
    widget = JSON.parse($("pg-widget-json").value);
  } catch (error) {
    showBanner(`The widget is not JSON: ${error.message}`);
    log("client", "not sent: the widget is not JSON", undefined, { error: error.message });
    return;
  }
  // Named after the sample or template it came from, unless it was edited since.
  const choice = picked();
  const body = choice && state.pickedWidget === $("pg-widget-json").value ? { widget, title: choice.name } : { widget };
  try {
    const created = await api("POST", "/threads", body);
    await loadThreads();
    location.hash = `thread=${encodeURIComponent(created.thread.id)}`;
  } catch (error) {
    showBanner(error.message);
  }
}

// ------------------------------------------------------------------ start

function hashThread() {
  const match = /(?:^|&)thread=([^&]*)/.exec(location.hash.slice(1));
  return match ? decodeURIComponent(match[1]) : null;
}

async function route() {
  const id = hashThread() || (state.threads[0] && state.threads[0].id);
  if (!id) return drawThread();
  try {
    await openThread(id);
  } catch (error) {
    showBanner(error.message);
  }
}

function stop() {
  const run = state.run;
  if (!run || !run.allowCancel) return;
  run.stopped = true;
  log("client", "Stop: the client closes the stream", undefined, { startedAt: run.startedAt });
  run.controller.abort();
}

async function start() {
  $("pg-endpoint").textContent = ENDPOINT;
  $("pg-stop").addEventListener("click", stop);
  $("pg-refresh").addEventListener("click", () => loadThreads().then(route, (error) => showBanner(error.message)));
  $("pg-more-threads").addEventListener("click", () => loadThreads({ more: true }).catch((error) => showBanner(error.message)));
  $("pg-clear-log").addEventListener("click", () => $("pg-log-entries").replaceChildren());
  $("pg-sample").addEventListener("change", pickSample);
  $("pg-create").addEventListener("click", createWidgetThread);
  $("pg-render").addEventListener("click", renderTemplate);
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", (event) => {
    log("error", "unexpected error in the page", String(event.reason), { error: String(event.reason?.message ?? event.reason) });
    event.preventDefault();
  });
  await loadSamples();
  try {
    await loadThreads();
  } catch (error) {
    showBanner(error.message);
    return;
  }
  await route();
  document.body.dataset.ready = "true";
}

start();
