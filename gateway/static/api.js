// Every API call goes through here and carries the signed-in token. The token lives in
// sessionStorage (this tab only), never in localStorage, never in the code.
const KEY = "paneas.token";

export const session = new EventTarget();

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function authHeaders(extra = {}) {
  return { ...extra, Authorization: `Bearer ${token()}` };
}

// The message of an error body: google.rpc.Status ({code, message}) on /api routes,
// {"error": {"message"}} on the OpenAI routes.
export async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    message = body.message || body.error?.message || body.detail || message;
  } catch {
    // not JSON: keep the status line
  }
  return errorFrom(response.status, message);
}

export function errorFrom(status, message) {
  if (status === 401) session.dispatchEvent(new Event("unauthorized"));
  return new ApiError(status, message);
}

export async function api(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), body, signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function apiJson(path, options) {
  return (await api(path, options)).json();
}

// A download of in-memory text or bytes.
export function saveAs(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Builds an element: el("p", {class: "x"}, "text", child). Text always goes in as text.
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}
