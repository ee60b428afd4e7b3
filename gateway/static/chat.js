// Chat: OpenAI-compatible streaming (/v1/chat/completions, server-sent events), Markdown
// rendered safely as it streams, a model picker from /v1/models and a stop button that
// aborts the request (the gateway cancels generation when the client goes away).
import { api, apiJson, el } from "./api.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

const $ = (id) => document.getElementById(id);
let messages = [];
let controller = null;
const MAX_REPLY_TOKENS = 1024;

export async function loadModels() {
  const select = $("chat-model");
  const previous = select.value;
  const body = await apiJson("/v1/models");
  const ids = body.data.map((model) => model.id);
  if (!ids.includes("auto")) ids.unshift("auto");
  ids.sort((a, b) => (a === "auto" ? -1 : b === "auto" ? 1 : a.localeCompare(b)));
  select.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
  select.value = ids.includes(previous) ? previous : "auto";
}

function bubble(role, text) {
  const content = el("div", { class: "content" });
  const item = el("article", { class: `message ${role}` }, el("h3", { class: "who" }, t(role === "user" ? "you" : "assistant")), content);
  if (role === "user") content.append(el("p", {}, text));
  $("chat-log").append(item);
  return content;
}

async function* serverSentData(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (data) yield data;
    }
  }
}

async function send(text) {
  const log = $("chat-log");
  $("chat-error").textContent = "";
  messages.push({ role: "user", content: text });
  bubble("user", text);
  const content = bubble("assistant");
  content.parentElement.setAttribute("aria-busy", "true");
  controller = new AbortController();
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  let answer = "";
  const render = () => {
    content.replaceChildren(renderMarkdown(answer));
    log.scrollTop = log.scrollHeight;
  };
  try {
    const response = await api("/v1/chat/completions", {
      method: "POST",
      // A cap on the reply: at OpenAI's default temperature a small model can loop until its
      // context is full, which holds a generation slot for minutes.
      json: { model: $("chat-model").value || "auto", messages, stream: true, max_tokens: MAX_REPLY_TOKENS },
      signal: controller.signal,
    });
    $("chat-routed").textContent = response.headers.get("x-paneas-model") || "—";
    for await (const data of serverSentData(response)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || "error");
      if (chunk.model) $("chat-routed").textContent = chunk.model;
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        answer += delta;
        render();
      }
      if (chunk.choices?.[0]?.finish_reason === "length") {
        content.append(el("p", { class: "muted" }, t("truncated")));
      }
    }
    messages.push({ role: "assistant", content: answer });
  } catch (error) {
    if (error.name === "AbortError") {
      content.parentElement.classList.add("stopped");
      content.append(el("p", { class: "muted" }, t("stopped")));
      if (answer) messages.push({ role: "assistant", content: answer });
    } else {
      $("chat-error").textContent = error.message;
      messages.pop();
    }
  } finally {
    content.parentElement.removeAttribute("aria-busy");
    controller = null;
    $("chat-send").disabled = false;
    $("chat-stop").disabled = true;
  }
}

export function setup() {
  const input = $("chat-input");
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("chat-stop").addEventListener("click", () => controller?.abort());
  $("chat-clear").addEventListener("click", () => {
    controller?.abort();
    messages = [];
    $("chat-log").replaceChildren();
    $("chat-routed").textContent = "—";
  });
}

export function shown() {
  loadModels().catch((error) => {
    $("chat-error").textContent = error.message;
  });
}
