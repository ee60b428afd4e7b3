// Speech: voices from GET /api/v1/tts/voices grouped by language, POST /api/v1/tts for the
// audio itself (played in an <audio> element and offered for download).
import { api, apiJson, el } from "./api.js";
import { lang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let voices = [];
let audioUrl = null;

function fillVoices() {
  const language = $("speech-language").value;
  const select = $("speech-voice");
  const previous = select.value;
  const matching = voices.filter((voice) => (voice.language_codes || []).includes(language));
  select.replaceChildren(
    ...matching.map((voice) => el("option", { value: voice.name }, `${voice.name} · ${voice.engine}`)),
  );
  if (matching.some((voice) => voice.name === previous)) select.value = previous;
}

async function loadVoices() {
  if (voices.length) return;
  voices = (await apiJson("/api/v1/tts/voices")).voices || [];
  const codes = [...new Set(voices.flatMap((voice) => voice.language_codes || []))].sort();
  const names = new Intl.DisplayNames([lang()], { type: "language" });
  const label = (code) => {
    try {
      return `${names.of(code)} (${code})`;
    } catch {
      return code;
    }
  };
  $("speech-language").replaceChildren(...codes.map((code) => el("option", { value: code }, label(code))));
  const preferred = codes.find((code) => code.toLowerCase().startsWith(lang())) || codes[0];
  $("speech-language").value = preferred || "";
  fillVoices();
}

async function speak(event) {
  event.preventDefault();
  const format = $("speech-format").value;
  $("speech-status").textContent = t("synthesizing");
  try {
    const response = await api("/api/v1/tts", {
      method: "POST",
      json: {
        text: $("speech-text").value,
        voice: $("speech-voice").value,
        language: $("speech-language").value,
        format,
        speed: Number($("speech-speed").value) || 1,
      },
    });
    const blob = await response.blob();
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(blob);
    const audio = $("speech-audio");
    audio.src = audioUrl;
    audio.hidden = false;
    const link = $("speech-download");
    link.href = audioUrl;
    link.download = `speech.${format}`;
    link.hidden = false;
    $("speech-status").textContent = t("spoke", {
      voice: response.headers.get("x-paneas-voice") || "",
      seconds: Number(response.headers.get("x-audio-duration") || 0).toFixed(1),
    });
    audio.play().catch(() => {});
  } catch (error) {
    $("speech-status").textContent = error.message;
  }
}

export function setup() {
  $("speech-language").addEventListener("change", fillVoices);
  $("speech-form").addEventListener("submit", speak);
}

export function shown() {
  loadVoices().catch((error) => {
    $("speech-status").textContent = error.message;
  });
}
