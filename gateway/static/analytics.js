// Analytics: GET /api/v1/analytics, drawn as inline SVG (no chart library): requests and
// errors per day, p50/p95 latency per route, requests per model, and a table of usage.
import { apiJson, el } from "./api.js";
import { lang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const number = (value, digits = 0) =>
  value === null || value === undefined ? "—" : Number(value).toLocaleString(lang(), { maximumFractionDigits: digits });

// Vertical bars: one per item, `series` stacked from the bottom ({key, class}).
function columns(items, label, series, description) {
  const width = 480;
  const height = 220;
  const pad = { left: 44, right: 8, top: 10, bottom: 40 };
  const max = Math.max(1, ...items.map((item) => series.reduce((sum, s) => sum + (item[s.key] || 0), 0)));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": description });
  const plotHeight = height - pad.top - pad.bottom;
  const slot = (width - pad.left - pad.right) / Math.max(1, items.length);
  for (const fraction of [0, 0.5, 1]) {
    const y = pad.top + plotHeight * (1 - fraction);
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "axis" }));
    chart.append(svg("text", { x: pad.left - 4, y: y + 4, "text-anchor": "end" }, number(max * fraction)));
  }
  items.forEach((item, index) => {
    let base = pad.top + plotHeight;
    const x = pad.left + index * slot + slot * 0.15;
    for (const s of series) {
      const value = item[s.key] || 0;
      const h = (value / max) * plotHeight;
      base -= h;
      const bar = svg("rect", { x, y: base, width: slot * 0.7, height: h, class: `bar ${s.class || ""}` });
      bar.append(svg("title", {}, `${label(item)}: ${s.name} ${number(value, 1)}`));
      chart.append(bar);
    }
    chart.append(svg("text", { x: x + slot * 0.35, y: height - pad.bottom + 14, "text-anchor": "middle" }, label(item).slice(0, 14)));
  });
  return chart;
}

// Horizontal grouped bars: p50 and p95 per route.
function latencyBars(groups, description) {
  const row = 30;
  const width = 480;
  const labelWidth = 190;
  const height = Math.max(60, groups.length * row + 20);
  const max = Math.max(1, ...groups.map((group) => group.latency_ms.p95 || 0));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": description });
  groups.forEach((group, index) => {
    const y = 10 + index * row;
    chart.append(svg("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" }, group.route.slice(-30)));
    [["p50", 0], ["p95", 11]].forEach(([key, offset]) => {
      const value = group.latency_ms[key] || 0;
      const w = (value / max) * (width - labelWidth - 60);
      const bar = svg("rect", { x: labelWidth, y: y + offset, width: Math.max(1, w), height: 10, class: `bar ${key}` });
      bar.append(svg("title", {}, `${group.route} ${key}: ${number(value, 1)} ms`));
      chart.append(bar);
      chart.append(svg("text", { x: labelWidth + w + 4, y: y + offset + 9 }, number(value, 0)));
    });
  });
  return chart;
}

function legend(entries) {
  return el("div", { class: "legend" }, ...entries.map(([cls, text]) => el("span", {}, el("i", { class: `swatch ${cls}` }), text)));
}

function table(groups) {
  const headers = [t("route"), t("requests"), t("errorRate"), "p50 ms", "p95 ms", t("tokens"), t("audioSeconds"), t("characters"), t("pages")];
  return el(
    "table",
    {},
    el("caption", { class: "visually-hidden" }, t("analyticsTitle")),
    el("thead", {}, el("tr", {}, ...headers.map((header) => el("th", { scope: "col" }, header)))),
    el(
      "tbody",
      {},
      ...groups.map((group) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, group.route),
          el("td", { class: "num" }, number(group.count)),
          el("td", { class: "num" }, `${number(group.error_rate * 100, 1)}%`),
          el("td", { class: "num" }, number(group.latency_ms.p50, 1)),
          el("td", { class: "num" }, number(group.latency_ms.p95, 1)),
          el("td", { class: "num" }, number(group.totals.prompt_tokens + group.totals.completion_tokens)),
          el("td", { class: "num" }, number(group.totals.audio_seconds, 1)),
          el("td", { class: "num" }, number(group.totals.characters)),
          el("td", { class: "num" }, number(group.totals.pages)),
        ),
      ),
    ),
  );
}

async function refresh() {
  const days = Number($("analytics-window").value);
  const end = new Date();
  const start = new Date(end.getTime() - days * 86_400_000);
  const query = (groupBy) => apiJson(`/api/v1/analytics?start=${start.toISOString()}&end=${end.toISOString()}&group_by=${groupBy}`);
  $("analytics-status").textContent = t("loading");
  try {
    const [byDay, byRoute, byModel] = await Promise.all([query("day"), query("route"), query("model")]);
    const overall = byRoute.overall;
    $("analytics-cards").replaceChildren(
      ...[
        [t("requests"), number(overall.count)],
        [t("errorRate"), `${number(overall.error_rate * 100, 1)}%`],
        ["p50", `${number(overall.latency_ms.p50, 0)} ms`],
        ["p95", `${number(overall.latency_ms.p95, 0)} ms`],
      ].map(([name, value]) => el("div", {}, name, el("strong", {}, value))),
    );
    const days_ = byDay.groups.map((group) => ({ ...group, ok: group.count - group.error_count, errors: group.error_count }));
    $("chart-days").replaceChildren(
      columns(days_, (item) => item.day, [
        { key: "ok", name: t("requests"), class: "" },
        { key: "errors", name: t("errors"), class: "errors" },
      ], t("requestsPerDay")),
      legend([["", t("requests")], ["errors", t("errors")]]),
    );
    const routes = [...byRoute.groups].sort((a, b) => b.count - a.count).slice(0, 12);
    $("chart-latency").replaceChildren(latencyBars(routes, t("latencyPerRoute")), legend([["p50", "p50"], ["p95", "p95"]]));
    const models = byModel.groups.map((group) => ({ ...group, model: group.model || "—" }));
    $("chart-models").replaceChildren(columns(models, (item) => item.model, [{ key: "count", name: t("requests") }], t("usagePerModel")));
    $("analytics-table").replaceChildren(routes.length ? table(byRoute.groups) : el("p", {}, t("noData")));
    $("analytics-status").textContent = "";
  } catch (error) {
    $("analytics-status").textContent = error.message;
  }
}

export function setup() {
  $("analytics-refresh").addEventListener("click", refresh);
  $("analytics-window").addEventListener("change", refresh);
}

export function shown() {
  refresh();
}
