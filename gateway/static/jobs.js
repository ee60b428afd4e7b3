// Background jobs, in the Files tab: a recording or document uploaded as a durable job
// (POST /api/v1/jobs, upload progress through XMLHttpRequest: fetch reports none), the
// caller's jobs (GET /api/v1/jobs) with a progress bar each, refreshed every second while
// one is queued or running, the result in each format the job type has, and cancel/delete.
import { api, apiJson, authHeaders, el, errorFrom, saveAs } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
// GET /api/v1/jobs/{id}/result?format=: the formats of each job type, and the file extension.
const FORMATS = {
  transcription: [["text", "txt"], ["srt", "srt"], ["vtt", "vtt"], ["verbose_json", "json"]],
  ocr: [["text", "txt"], ["json", "json"]],
};
const REFRESH_MS = 1000;
let timer = null;

function submit(form) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/v1/jobs");
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      $("jobs-status").textContent = t("uploading", { percent: Math.round((100 * event.loaded) / event.total) });
    };
    request.onload = () => {
      if (request.status === 202) resolve(request.response);
      else reject(errorFrom(request.status, request.response?.message || request.response?.error?.message || `${request.status}`));
    };
    request.onerror = () => reject(new Error("network error"));
    request.send(form);
  });
}

function config() {
  const language = $("jobs-language").value;
  if ($("jobs-type").value === "ocr") return language ? { languages: [language] } : {};
  const options = { word_timestamps: $("jobs-words").checked };
  if (language) options.language = language;
  return options;
}

async function create(event) {
  event.preventDefault();
  const file = $("jobs-input").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("type", $("jobs-type").value);
  form.append("config", JSON.stringify(config()));
  $("jobs-submit").disabled = true;
  try {
    const job = await submit(form);
    $("jobs-status").textContent = t("jobQueued", { name: file.name });
    $("jobs-form").reset();
    await refresh();
    return job;
  } catch (error) {
    $("jobs-status").textContent = error.message;
  } finally {
    $("jobs-submit").disabled = false;
  }
}

async function download(job, format, extension) {
  try {
    const response = await api(`/api/v1/jobs/${encodeURIComponent(job.id)}/result?format=${format}`);
    const stem = job.input.filename.replace(/\.[^.]+$/, "") || job.id;
    saveAs(await response.blob(), `${stem}.${extension}`);
  } catch (error) {
    $("jobs-status").textContent = error.message;
  }
}

async function remove(job) {
  try {
    await api(`/api/v1/jobs/${encodeURIComponent(job.id)}`, { method: "DELETE" });
  } catch (error) {
    $("jobs-status").textContent = error.message;
  }
  await refresh();
}

function when(stamp) {
  return stamp ? new Date(stamp).toLocaleString() : "";
}

function row(job) {
  const percent = Math.round(100 * job.progress);
  const label = `${job.input.filename}: ${percent}%`;
  const bar = el("progress", { max: 1, value: job.progress, "aria-label": label });
  const actions = el("td", { class: "actions" });
  if (job.status === "succeeded") {
    for (const [format, extension] of FORMATS[job.type] || []) {
      const button = el("button", { type: "button", "data-format": format, "aria-label": `${t("download")} ${format}: ${job.input.filename}` }, format);
      button.addEventListener("click", () => download(job, format, extension));
      actions.append(button);
    }
  }
  const active = ACTIVE.has(job.status);
  const removal = el("button", { type: "button", class: "danger", "aria-label": `${t(active ? "cancel" : "delete")}: ${job.input.filename}` }, t(active ? "cancel" : "delete"));
  removal.addEventListener("click", () => remove(job));
  actions.append(removal);
  const status = el("td", { class: `job-status ${job.status}` }, t(`job_${job.status}`));
  if (job.error) status.append(el("div", { class: "error" }, job.error.message));
  return el(
    "tr",
    { "data-job": job.id, "data-status": job.status },
    el("th", { scope: "row" }, job.input.filename),
    el("td", {}, job.type === "ocr" ? "OCR" : t("jobTranscription")),
    status,
    el("td", { class: "progress-cell" }, bar, el("span", { class: "percent" }, `${percent}%`)),
    el("td", {}, when(job.created_at)),
    actions,
  );
}

export async function refresh() {
  clearTimeout(timer);
  timer = null;
  let jobs;
  try {
    jobs = (await apiJson("/api/v1/jobs?limit=50")).data;
  } catch (error) {
    // 404: this gateway runs no jobs (JOBS_ENABLED off).
    $("jobs-status").textContent = error.status === 404 ? t("jobsOff") : error.message;
    $("jobs-submit").disabled = error.status === 404;
    return;
  }
  $("jobs-list").replaceChildren(...jobs.map(row));
  $("jobs-empty").hidden = jobs.length > 0;
  // Only while something moves, and only while the tab is shown.
  if (jobs.some((job) => ACTIVE.has(job.status)) && !$("panel-files").hidden) {
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

export function setup() {
  $("jobs-form").addEventListener("submit", create);
  $("jobs-type").addEventListener("change", () => {
    $("jobs-words").disabled = $("jobs-type").value === "ocr";
  });
  $("jobs-refresh").addEventListener("click", refresh);
}
