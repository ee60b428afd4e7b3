// OCR: POST /api/v1/ocr (multipart). Each page's text, and its word or line boxes drawn in
// SVG over the page: over the uploaded image itself, or, for a PDF (which the browser cannot
// rasterise without a PDF library), over a blank page of the same size with the recognised
// words laid out where they were found.
import { api, el } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let imageUrl = null;

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function boxesOf(page, kind) {
  const boxes = [];
  for (const block of page.blocks || []) {
    for (const line of block.lines || []) {
      if (kind === "lines") boxes.push(line);
      else boxes.push(...(line.words || []));
    }
  }
  return boxes.filter((item) => item.bounding_box && item.bounding_box.width > 0);
}

function renderPage(page, count, isImage, kind) {
  const width = page.width || 1;
  const height = page.height || 1;
  const overlay = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "overlay", role: "img" });
  overlay.setAttribute("aria-label", t("pageOf", { page: page.page_number, count }));
  const view = el("div", { class: "page-view" });
  if (isImage) {
    view.append(el("img", { src: imageUrl, alt: "" }));
  } else {
    overlay.classList.remove("overlay");
    overlay.append(svg("rect", { x: 0, y: 0, width, height, fill: "#fff" }));
  }
  for (const item of boxesOf(page, kind)) {
    const { left, top, width: w, height: h } = item.bounding_box;
    const rect = svg("rect", { x: left, y: top, width: w, height: h, class: "box" });
    const title = svg("title", {});
    title.textContent = `${item.text} (${Math.round((item.confidence || 0) * 100)}%)`;
    rect.append(title);
    if (!isImage) {
      const label = svg("text", { x: left, y: top + h * 0.8, "font-size": h * 0.8, textLength: w, lengthAdjust: "spacingAndGlyphs" });
      label.textContent = item.text;
      overlay.append(label);
    }
    overlay.append(rect);
  }
  view.append(overlay);
  const text = el("pre", { class: "page-text", tabindex: 0 }, page.text || "");
  return el(
    "section",
    { class: "page", "aria-label": t("pageOf", { page: page.page_number, count }) },
    el("h3", {}, `${t("pageOf", { page: page.page_number, count })} · ${page.engine || ""} · ${page.source || ""}`),
    el("div", { class: "page-grid" }, view, text),
  );
}

let last = null;

function render() {
  if (!last) return;
  const { result, isImage } = last;
  const kind = $("ocr-boxes").value;
  const count = result.document_page_count || result.pages.length;
  $("ocr-pages").replaceChildren(...result.pages.map((page) => renderPage(page, count, isImage, kind)));
}

async function recognize(event) {
  event.preventDefault();
  const file = $("ocr-input").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("languages", $("ocr-languages").value);
  form.append("engine", $("ocr-engine").value);
  $("ocr-status").textContent = t("recognizing");
  $("ocr-pages").replaceChildren();
  const started = performance.now();
  try {
    const result = await (await api("/api/v1/ocr", { method: "POST", body: form })).json();
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    const isImage = file.type.startsWith("image/");
    imageUrl = isImage ? URL.createObjectURL(file) : null;
    last = { result, isImage };
    render();
    $("ocr-status").textContent = t("pagesDone", {
      count: result.pages.length,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  } catch (error) {
    $("ocr-status").textContent = error.message;
  }
}

export function setup() {
  $("ocr-form").addEventListener("submit", recognize);
  $("ocr-boxes").addEventListener("change", render);
}
