// File transcription: POST /v1/audio/transcriptions (verbose_json, word and segment
// timestamps) with upload progress (XMLHttpRequest: fetch reports none). Words carry their
// times (click one to hear it); SRT, VTT and TXT are written from the segments.
import { authHeaders, el, errorFrom, saveAs } from "./api.js";
import { t } from "./i18n.js";
import * as jobs from "./jobs.js";

const $ = (id) => document.getElementById(id);
let result = null;
let fileName = "transcript";
let playerUrl = null;

function upload(form) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/audio/transcriptions");
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      $("files-progress").value = event.loaded / event.total;
      $("files-status").textContent = t("uploading", { percent: Math.round((100 * event.loaded) / event.total) });
    };
    request.upload.onload = () => {
      $("files-progress").removeAttribute("value"); // indeterminate while the model works
      $("files-status").textContent = t("transcribing");
    };
    request.onload = () => {
      if (request.status === 200) resolve(request.response);
      else reject(errorFrom(request.status, request.response?.error?.message || `${request.status}`));
    };
    request.onerror = () => reject(new Error("network error"));
    request.send(form);
  });
}

function stamp(seconds, separator) {
  const ms = Math.round(seconds * 1000);
  const pad = (value, size = 2) => String(value).padStart(size, "0");
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${separator}${pad(ms % 1000, 3)}`;
}

export function subtitles(segments, format) {
  const cues = segments.filter((segment) => segment.text.trim());
  if (format === "srt") {
    return cues.map((cue, index) => `${index + 1}\n${stamp(cue.start, ",")} --> ${stamp(cue.end, ",")}\n${cue.text.trim()}\n`).join("\n");
  }
  return `WEBVTT\n\n${cues.map((cue) => `${stamp(cue.start, ".")} --> ${stamp(cue.end, ".")}\n${cue.text.trim()}\n`).join("\n")}`;
}

function render() {
  const box = $("files-transcript");
  const words = result.words || [];
  if (!words.length) {
    box.textContent = result.text || "";
    return;
  }
  box.replaceChildren(
    ...words.flatMap((word, index) => [
      index ? " " : "",
      el(
        "span",
        { class: "word", tabindex: 0, role: "button", "data-start": word.start, title: `${word.start.toFixed(2)}–${word.end.toFixed(2)} s` },
        word.word.trim(),
      ),
    ]),
  );
}

function seek(event) {
  const target = event.target.closest("span.word");
  if (!target || (event.type === "keydown" && event.key !== "Enter" && event.key !== " ")) return;
  event.preventDefault();
  const player = $("files-player");
  player.currentTime = Number(target.dataset.start);
  player.play().catch(() => {});
}

function highlight() {
  const now = $("files-player").currentTime;
  for (const span of $("files-transcript").querySelectorAll("span.word")) {
    const start = Number(span.dataset.start);
    const [, end] = span.title.match(/–([\d.]+)/) || [];
    span.classList.toggle("current", now >= start && now < Number(end));
  }
}

async function transcribe(event) {
  event.preventDefault();
  const file = $("files-input").files[0];
  if (!file) return;
  fileName = file.name.replace(/\.[^.]+$/, "") || "transcript";
  const form = new FormData();
  form.append("file", file);
  form.append("model", "whisper-1");
  form.append("response_format", "verbose_json");
  form.append("timestamp_granularities[]", "word");
  form.append("timestamp_granularities[]", "segment");
  const language = $("files-language").value;
  if (language) form.append("language", language);
  $("files-downloads").hidden = true;
  $("files-transcript").replaceChildren();
  $("files-progress").value = 0;
  try {
    result = await upload(form);
  } catch (error) {
    $("files-status").textContent = error.message;
    $("files-progress").value = 0;
    return;
  }
  $("files-progress").value = 1;
  $("files-status").textContent = t("transcribed", { seconds: (result.duration || 0).toFixed(1), language: result.language || "" });
  if (playerUrl) URL.revokeObjectURL(playerUrl);
  playerUrl = URL.createObjectURL(file);
  $("files-player").src = playerUrl;
  $("files-player").hidden = false;
  $("files-downloads").hidden = false;
  render();
}

export function setup() {
  jobs.setup();
  $("files-form").addEventListener("submit", transcribe);
  $("files-transcript").addEventListener("click", seek);
  $("files-transcript").addEventListener("keydown", seek);
  $("files-player").addEventListener("timeupdate", highlight);
  $("files-downloads").addEventListener("click", (event) => {
    const format = event.target.dataset?.format;
    if (!format || !result) return;
    const text = format === "txt" ? `${(result.text || "").trim()}\n` : subtitles(result.segments || [], format);
    const type = { srt: "application/x-subrip", vtt: "text/vtt", txt: "text/plain" }[format];
    saveAs(new Blob([text], { type: `${type};charset=utf-8` }), `${fileName}.${format}`);
  });
}

// Each time the tab opens: the jobs as they are now (and their refresh while any runs).
export function shown() {
  jobs.refresh();
}
