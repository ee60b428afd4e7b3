// UI strings in English and Portuguese. The language follows navigator.language until the
// user toggles it; the choice is kept for this tab only (sessionStorage).
const STRINGS = {
  en: {
    skip: "Skip to content", signOut: "Sign out", signInTitle: "Sign in",
    signInHelp: "Paste an API token (API_TOKENS, or the one the launcher printed). It is kept in this tab only.",
    token: "API token", signIn: "Sign in", checking: "Checking…", sections: "Sections",
    tabLive: "Live", tabFiles: "Files", tabChat: "Chat", tabOcr: "OCR", tabSpeech: "Speech",
    tabAnalytics: "Analytics", liveTitle: "Live transcription", language: "Language",
    languages: "Languages", autoDetect: "detect automatically", insights: "LLM insights",
    speakers: "Speakers",
    start: "Start", stop: "Stop", clear: "Clear", level: "Level", transcript: "Transcript",
    insightsPanel: "Insights", summary: "Summary", connecting: "Connecting…",
    listening: "Listening", reconnecting: "Connection lost; reconnecting in {s} s…",
    finishing: "Finishing…", finished: "Finished: {seconds} s of audio",
    noSummary: "(no summary)", micDenied: "Microphone unavailable: {error}",
    filesTitle: "File transcription", audioFile: "Audio or video file", transcribe: "Transcribe",
    uploading: "Uploading… {percent}%", transcribing: "Transcribing…",
    transcribed: "{seconds} s of audio, language {language}", download: "Download",
    chatTitle: "Chat", model: "Model", routedModel: "Served by", newChat: "New chat",
    message: "Message", chatPlaceholder: "Ask something… (Enter sends, Shift+Enter breaks the line)",
    send: "Send", you: "You", assistant: "Assistant", stopped: "(stopped)", truncated: "(cut at the reply length limit)",
    ocrTitle: "OCR", imageOrPdf: "Image or PDF", engine: "Engine", boxes: "Boxes",
    words: "words", lines: "lines", recognize: "Recognise", recognizing: "Recognising…",
    pageOf: "Page {page} of {count}", pagesDone: "{count} page(s), {seconds} s",
    speechTitle: "Speech", text: "Text", voice: "Voice", format: "Format", speed: "Speed",
    speak: "Speak", synthesizing: "Synthesising…", spoke: "Voice {voice}, {seconds} s",
    analyticsTitle: "Analytics", window: "Window", last24h: "last 24 hours",
    last7d: "last 7 days", last30d: "last 30 days", refresh: "Refresh",
    requestsPerDay: "Requests per day", latencyPerRoute: "Latency per route (ms, p50 / p95)",
    usagePerModel: "Requests per model", requests: "Requests", errors: "Errors",
    errorRate: "Error rate", route: "Route", day: "Day", noData: "No requests in this window.",
    tokens: "Tokens", audioSeconds: "Audio s", characters: "Characters", pages: "Pages",
    loading: "Loading…", invalidToken: "The gateway refused this token.",
    signedOut: "Your token was refused; sign in again.", langName: "Português",
    langCurrent: "Interface language: English",
    jobsTitle: "Background jobs",
    jobsHelp: "Long recordings and documents: they run on the server's workers, even if you close this page.",
    jobFile: "Recording or document", jobType: "Type", jobTranscription: "transcription",
    wordTimestamps: "Word timestamps", submitJob: "Submit job", jobFileColumn: "File",
    jobStatus: "Status", jobProgress: "Progress", jobCreated: "Created", jobActions: "Result",
    noJobs: "No jobs yet.", jobQueued: "{name}: submitted", cancel: "Cancel", delete: "Delete",
    jobsOff: "This gateway runs no background jobs (JOBS_ENABLED is off).",
    job_queued: "queued", job_running: "running", job_succeeded: "succeeded",
    job_failed: "failed", job_cancelled: "cancelled", job_expired: "expired",
  },
  pt: {
    skip: "Ir para o conteúdo", signOut: "Sair", signInTitle: "Entrar",
    signInHelp: "Cole um token de API (API_TOKENS, ou o que o launcher mostrou). Ele fica guardado só nesta aba.",
    token: "Token de API", signIn: "Entrar", checking: "Verificando…", sections: "Seções",
    tabLive: "Ao vivo", tabFiles: "Arquivos", tabChat: "Chat", tabOcr: "OCR", tabSpeech: "Fala",
    tabAnalytics: "Análises", liveTitle: "Transcrição ao vivo", language: "Idioma",
    languages: "Idiomas", autoDetect: "detectar automaticamente", insights: "Insights do LLM",
    speakers: "Falantes",
    start: "Iniciar", stop: "Parar", clear: "Limpar", level: "Nível", transcript: "Transcrição",
    insightsPanel: "Insights", summary: "Resumo", connecting: "Conectando…",
    listening: "Ouvindo", reconnecting: "Conexão perdida; reconectando em {s} s…",
    finishing: "Finalizando…", finished: "Concluído: {seconds} s de áudio",
    noSummary: "(sem resumo)", micDenied: "Microfone indisponível: {error}",
    filesTitle: "Transcrição de arquivos", audioFile: "Arquivo de áudio ou vídeo",
    transcribe: "Transcrever", uploading: "Enviando… {percent}%", transcribing: "Transcrevendo…",
    transcribed: "{seconds} s de áudio, idioma {language}", download: "Baixar",
    chatTitle: "Chat", model: "Modelo", routedModel: "Respondido por", newChat: "Nova conversa",
    message: "Mensagem", chatPlaceholder: "Pergunte algo… (Enter envia, Shift+Enter quebra a linha)",
    send: "Enviar", you: "Você", assistant: "Assistente", stopped: "(interrompido)", truncated: "(cortado no limite de tamanho da resposta)",
    ocrTitle: "OCR", imageOrPdf: "Imagem ou PDF", engine: "Motor", boxes: "Caixas",
    words: "palavras", lines: "linhas", recognize: "Reconhecer", recognizing: "Reconhecendo…",
    pageOf: "Página {page} de {count}", pagesDone: "{count} página(s), {seconds} s",
    speechTitle: "Fala", text: "Texto", voice: "Voz", format: "Formato", speed: "Velocidade",
    speak: "Falar", synthesizing: "Sintetizando…", spoke: "Voz {voice}, {seconds} s",
    analyticsTitle: "Análises", window: "Período", last24h: "últimas 24 horas",
    last7d: "últimos 7 dias", last30d: "últimos 30 dias", refresh: "Atualizar",
    requestsPerDay: "Requisições por dia", latencyPerRoute: "Latência por rota (ms, p50 / p95)",
    usagePerModel: "Requisições por modelo", requests: "Requisições", errors: "Erros",
    errorRate: "Taxa de erro", route: "Rota", day: "Dia", noData: "Nenhuma requisição neste período.",
    tokens: "Tokens", audioSeconds: "Áudio (s)", characters: "Caracteres", pages: "Páginas",
    loading: "Carregando…", invalidToken: "O gateway recusou este token.",
    signedOut: "Seu token foi recusado; entre novamente.", langName: "English",
    langCurrent: "Idioma da interface: português",
    jobsTitle: "Tarefas em segundo plano",
    jobsHelp: "Gravações longas e documentos: rodam nos workers do servidor, mesmo se você fechar esta página.",
    jobFile: "Gravação ou documento", jobType: "Tipo", jobTranscription: "transcrição",
    wordTimestamps: "Tempos das palavras", submitJob: "Enviar tarefa", jobFileColumn: "Arquivo",
    jobStatus: "Estado", jobProgress: "Progresso", jobCreated: "Criada", jobActions: "Resultado",
    noJobs: "Nenhuma tarefa ainda.", jobQueued: "{name}: enviado", cancel: "Cancelar",
    delete: "Excluir", jobsOff: "Este gateway não roda tarefas em segundo plano (JOBS_ENABLED desligado).",
    job_queued: "na fila", job_running: "em andamento", job_succeeded: "concluída",
    job_failed: "falhou", job_cancelled: "cancelada", job_expired: "expirada",
  },
};

const KEY = "paneas.ui.lang";
const listeners = new Set();

function initial() {
  const chosen = sessionStorage.getItem(KEY);
  if (chosen && chosen in STRINGS) return chosen;
  return (navigator.language || "en").toLowerCase().startsWith("pt") ? "pt" : "en";
}

let current = initial();

export function lang() {
  return current;
}

export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function apply(root = document) {
  document.documentElement.lang = current === "pt" ? "pt-BR" : "en";
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
}

export function setLang(next) {
  current = next in STRINGS ? next : "en";
  sessionStorage.setItem(KEY, current);
  apply();
  for (const listener of listeners) listener(current);
}

export function onLangChange(listener) {
  listeners.add(listener);
}
