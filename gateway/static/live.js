// Live transcription: microphone -> AudioWorklet (16 kHz PCM16) -> WS /api/v1/asr/stream.
// The socket authenticates with a single-use ticket (POST /api/v1/asr/stream/tickets, with
// the token in the header), so the token never goes into a URL. A dropped connection is
// reopened with a new ticket and a new stream; the transcript so far stays, and audio
// captured meanwhile is queued (up to a minute) and sent once the new stream is ready.
import { apiJson, el } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const SAMPLE_RATE = 16000;
const MAX_QUEUED_FRAMES = 600; // 100 ms each
// Close codes after which trying again cannot help: bad config, refused credentials.
const FINAL_CLOSES = new Set([1003, 1007, 1008]);

let capture = null; // {stream, context, node}
let socket = null;
let stopping = false;
let queue = [];
let retries = 0;
let retryTimer = null;
let audioSeconds = 0;
let lastSpeaker = ""; // the speaker of the last final shown, with enable_diarization

function status(text) {
  $("live-status").textContent = text;
}

function finals() {
  return $("live-transcript").querySelector(".finals");
}

function partial() {
  return $("live-transcript").querySelector(".partial");
}

// A final with a speaker starts a line with its label when the speaker changes; the same
// speaker's next finals go on in that line (the transcript keeps white space: pre-wrap).
function addFinal(text, speaker = "") {
  const trimmed = text.trim();
  if (!trimmed) return;
  const node = finals();
  if (speaker && speaker !== lastSpeaker) {
    if (node.textContent) node.append(document.createTextNode("\n"));
    node.append(el("span", { class: "speaker" }, `${speaker}:`), document.createTextNode(" " + trimmed));
    lastSpeaker = speaker;
  } else {
    node.append(document.createTextNode((node.textContent ? " " : "") + trimmed));
  }
  partial().textContent = "";
  $("live-transcript").scrollTop = $("live-transcript").scrollHeight;
}

function addInsight(insight) {
  const when = insight.generated_at ? new Date(insight.generated_at) : new Date();
  const item = el(
    "li",
    { class: `insight ${insight.type || ""}` },
    el("time", { datetime: when.toISOString() }, `${when.toLocaleTimeString()} · ${insight.model || ""}`),
    insight.text || "",
  );
  $("live-insight-list").append(item);
}

function send(frame) {
  if (socket?.readyState === WebSocket.OPEN && socket.ready) {
    socket.send(frame);
  } else {
    queue.push(frame);
    if (queue.length > MAX_QUEUED_FRAMES) queue.shift();
  }
}

async function startCapture() {
  const stream = await navigator.mediaDevices.getUserMedia({
    // Whisper does better on the raw signal than on the browser's voice-call processing.
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  await context.audioWorklet.addModule("/ui/pcm-worklet.js");
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "pcm16-capture", { numberOfOutputs: 0 });
  node.port.onmessage = ({ data }) => {
    $("live-level").value = Math.min(1, data.level * 4);
    send(data.pcm);
  };
  source.connect(node);
  await context.resume();
  capture = { stream, context, node, source };
}

function stopCapture() {
  if (!capture) return;
  capture.source.disconnect();
  capture.node.port.onmessage = null;
  capture.stream.getTracks().forEach((track) => track.stop());
  capture.context.close();
  capture = null;
  $("live-level").value = 0;
}

async function connect() {
  status(t("connecting"));
  let ticket;
  try {
    ({ ticket } = await apiJson("/api/v1/asr/stream/tickets", { method: "POST" }));
  } catch (error) {
    if (error.status === 401) return finish(error.message);
    return retry();
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(
    `${scheme}//${location.host}/api/v1/asr/stream?ticket=${encodeURIComponent(ticket)}`,
    ["paneas.asr.v1"],
  );
  ws.binaryType = "arraybuffer";
  socket = ws;
  // A new stream labels its speakers anew: its first labelled final starts a line.
  lastSpeaker = "";
  ws.onopen = () => {
    const language = $("live-language").value;
    ws.send(
      JSON.stringify({
        event: "start",
        config: {
          ...(language ? { language } : {}),
          sample_rate: SAMPLE_RATE,
          encoding: "pcm_s16le",
          channels: 1,
          interim_results: true,
          enable_insights: $("live-insights").checked,
          enable_diarization: $("live-speakers").checked,
        },
      }),
    );
  };
  ws.onmessage = ({ data }) => {
    if (typeof data !== "string") return;
    const message = JSON.parse(data);
    switch (message.event) {
      case "ready":
        ws.ready = true;
        retries = 0;
        status(t("listening"));
        for (const frame of queue.splice(0)) ws.send(frame);
        if (stopping) ws.send(JSON.stringify({ event: "stop" }));
        break;
      case "batch_processed":
        if (message.is_final) addFinal(message.text || "", message.speaker || "");
        else partial().textContent = (finals().textContent ? " " : "") + (message.text || "").trim();
        break;
      case "insight":
        addInsight(message);
        break;
      case "final_summary":
        ws.finished = true;
        audioSeconds += message.audio_seconds || 0;
        $("live-summary").textContent = message.summary || t("noSummary");
        break;
      case "error":
        ws.lastError = message;
        status(`${message.code}: ${message.message}`);
        break;
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    if (ws.finished || (stopping && event.code === 1000)) return finish();
    // What was heard but not yet final stays in the transcript.
    if (partial().textContent) addFinal(partial().textContent);
    if (FINAL_CLOSES.has(event.code)) {
      return finish(ws.lastError ? `${ws.lastError.code}: ${ws.lastError.message}` : `${event.code}`);
    }
    retry(ws.lastError?.retry_after);
  };
}

function retry(after) {
  const seconds = Math.min(10, after || 2 ** retries);
  retries++;
  status(t("reconnecting", { s: seconds }));
  retryTimer = setTimeout(connect, seconds * 1000);
}

function finish(message) {
  clearTimeout(retryTimer);
  stopCapture();
  if (socket) {
    const ws = socket;
    socket = null;
    ws.close();
  }
  const text = partial().textContent;
  if (text) addFinal(text);
  status(message || t("finished", { seconds: audioSeconds.toFixed(1) }));
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
  $("live-language").disabled = false;
  $("live-insights").disabled = false;
  $("live-speakers").disabled = false;
  $("live-transcript").removeAttribute("aria-busy");
}

async function start() {
  stopping = false;
  queue = [];
  retries = 0;
  audioSeconds = 0;
  $("live-summary").textContent = "";
  $("live-start").disabled = true;
  $("live-language").disabled = true;
  $("live-insights").disabled = true;
  $("live-speakers").disabled = true;
  try {
    await startCapture();
  } catch (error) {
    finish(t("micDenied", { error: error.message }));
    return;
  }
  $("live-stop").disabled = false;
  await connect();
}

function stop() {
  stopping = true;
  $("live-stop").disabled = true;
  stopCapture();
  status(t("finishing"));
  if (socket?.readyState === WebSocket.OPEN && socket.ready) {
    socket.send(JSON.stringify({ event: "stop" }));
  } else if (!socket) {
    finish();
  }
}

export function setup() {
  $("live-start").addEventListener("click", start);
  $("live-stop").addEventListener("click", stop);
  $("live-clear").addEventListener("click", () => {
    finals().textContent = "";
    partial().textContent = "";
    lastSpeaker = "";
    $("live-insight-list").replaceChildren();
    $("live-summary").textContent = "";
  });
}

// For tests and debugging: drop the connection as a network failure would.
export function dropConnection() {
  socket?.close(4000, "dropped");
}
