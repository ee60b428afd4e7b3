// The page: sign-in, tabs, language toggle. Each tab's module loads the first time it opens.
import { ApiError, clearToken, errorFrom, session, setToken, token } from "./api.js";
import { apply, lang, onLangChange, setLang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const TABS = ["live", "files", "chat", "ocr", "speech", "analytics"];
const started = new Map();

// Whisper's languages most people here want first; "" lets the service detect it.
export const LANGUAGES = ["", "pt", "en", "es", "fr", "de", "it", "ja", "zh"];

function fillLanguageSelects() {
  const names = new Intl.DisplayNames([lang()], { type: "language" });
  for (const select of document.querySelectorAll(".language-select")) {
    const value = select.value;
    select.replaceChildren(
      ...LANGUAGES.map((code) => {
        const option = document.createElement("option");
        option.value = code;
        option.textContent = code ? `${names.of(code)} (${code})` : t("autoDetect");
        return option;
      }),
    );
    select.value = value || "";
  }
}

function renderLanguage() {
  $("lang-toggle").textContent = t("langName");
  $("lang-toggle").lang = lang() === "pt" ? "en" : "pt";
  $("lang-current").textContent = t("langCurrent");
  fillLanguageSelects();
}

async function startTab(name) {
  if (!started.has(name)) {
    started.set(
      name,
      import(`./${name}.js`).then((module) => module.setup?.()),
    );
  }
  try {
    await started.get(name);
    const module = await import(`./${name}.js`);
    module.shown?.();
  } catch (error) {
    started.delete(name);
    console.error(error);
  }
}

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    const active = tab === name;
    button.setAttribute("aria-selected", String(active));
    button.tabIndex = active ? 0 : -1;
    $(`panel-${tab}`).hidden = !active;
    if (active && focus) button.focus();
  }
  sessionStorage.setItem("paneas.ui.tab", name);
  startTab(name);
}

function setupTabs() {
  for (const name of TABS) {
    $(`tab-${name}`).addEventListener("click", () => selectTab(name));
    $(`tab-${name}`).addEventListener("keydown", (event) => {
      const index = TABS.indexOf(name);
      const next = {
        ArrowRight: TABS[(index + 1) % TABS.length],
        ArrowLeft: TABS[(index + TABS.length - 1) % TABS.length],
        Home: TABS[0],
        End: TABS[TABS.length - 1],
      }[event.key];
      if (next) {
        event.preventDefault();
        selectTab(next, true);
      }
    });
  }
}

function showApp(signedIn) {
  $("sign-in").hidden = signedIn;
  $("app").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  if (signedIn) {
    const tab = sessionStorage.getItem("paneas.ui.tab");
    selectTab(TABS.includes(tab) ? tab : "live");
  } else {
    $("token-input").focus();
  }
}

// A token is good when an authenticated route that every gateway serves accepts it.
async function check(candidate) {
  const response = await fetch("/api/v1/analytics?group_by=route", {
    headers: { Authorization: `Bearer ${candidate}` },
  });
  if (response.status === 401) throw new ApiError(401, t("invalidToken"));
  if (!response.ok) throw errorFrom(response.status, `${response.status} ${response.statusText}`);
}

function setupSignIn() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const candidate = $("token-input").value.trim();
    const error = $("sign-in-error");
    error.textContent = t("checking");
    try {
      await check(candidate);
    } catch (failure) {
      error.textContent = failure.message;
      $("token-input").select();
      return;
    }
    error.textContent = "";
    $("token-input").value = "";
    setToken(candidate);
    showApp(true);
  });
  $("sign-out").addEventListener("click", () => {
    clearToken();
    location.reload();
  });
  session.addEventListener("unauthorized", () => {
    clearToken();
    showApp(false);
    $("sign-in-error").textContent = t("signedOut");
  });
}

function main() {
  apply();
  renderLanguage();
  onLangChange(renderLanguage);
  $("lang-toggle").addEventListener("click", () => setLang(lang() === "pt" ? "en" : "pt"));
  setupTabs();
  setupSignIn();
  showApp(Boolean(token()));
}

main();
