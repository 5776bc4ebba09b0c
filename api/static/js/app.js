// The board: sign-in, the header, the live stream and the hash router.

import { api, ApiError, dropKey, followAlerts, getKey, setKey, whenUnauthorized } from "./api.js";
import { clear, h } from "./dom.js";
import { lang, levelName, setLang, t, title, translatePage } from "./i18n.js";
import { applyMessage, languageChanged, loadAlerts, loadGrids } from "./store.js";
import * as alertsView from "./views/alerts.js";
import * as alertView from "./views/alert.js";
import * as mapView from "./views/map.js";
import * as reportsView from "./views/reports.js";
import * as drillsView from "./views/drills.js";
import * as drillRunView from "./views/drill-run.js";
import * as drillReportView from "./views/drill-report.js";
import * as rulesView from "./views/rules.js";
import * as silencesView from "./views/silences.js";
import * as incidentView from "./views/incident.js";
import * as warningsView from "./views/warnings.js";
import * as riskView from "./views/risk.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
const announcer = document.getElementById("announcer");
let unmount = () => {};
let stopStream = null;

const ROUTES = [
  [/^#\/?$/, "alerts", (root) => alertsView.render(root)],
  [/^#\/map$/, "map", (root) => mapView.render(root)],
  [/^#\/reports$/, "reports", (root) => reportsView.render(root)],
  [/^#\/drills$/, "drills", (root) => drillsView.render(root)],
  [/^#\/drill\/([^/]+)\/report$/, "drills", (root, run) => drillReportView.render(root, decodeURIComponent(run))],
  [/^#\/drill\/([^/]+)$/, "drills", (root, run) => drillRunView.render(root, decodeURIComponent(run))],
  [/^#\/rules$/, "rules", (root) => rulesView.render(root)],
  [/^#\/silences$/, "silences", (root) => silencesView.render(root)],
  [/^#\/alert\/(.+)$/, "alerts", (root, id) => alertView.render(root, decodeURIComponent(id))],
  [/^#\/incidents$/, "incidents", (root) => incidentView.renderList(root)],
  [/^#\/warnings$/, "warnings", (root) => warningsView.render(root)],
  [/^#\/risk(?:\?drill=([^&]*))?$/, "risk", (root, run) => riskView.render(root, run)],
  [/^#\/incident\/(.+)$/, "incidents", (root, id) => incidentView.render(root, decodeURIComponent(id))],
];

function route() {
  if (!getKey()) return;
  unmount();
  const hash = location.hash || "#/";
  let found = ROUTES[0], match = null;
  for (const r of ROUTES) {
    match = hash.match(r[0]);
    if (match) { found = r; break; }
  }
  const [, nav, view] = found;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  unmount = view(clear(main), match?.[1]) || (() => {});
}

function setLive(stateName) {
  live.dataset.state = stateName;
  live.textContent = t({ live: "live.on", down: "live.off", connecting: "live.connecting" }[stateName]);
}

function announce(msg) {
  if (msg.type === "raised" && msg.alert) announcer.textContent = `${levelName(msg.alert.level)}: ${title(msg.alert)}`;
}

async function startBoard() {
  document.body.classList.remove("signed-out");
  await loadGrids();
  await loadAlerts();
  stopStream = followAlerts((msg) => { applyMessage(msg); announce(msg); }, (st) => {
    setLive(st);
    if (st === "live") loadAlerts().catch(() => {});
  });
  route();
}

function signOut(message = "") {
  stopStream?.();
  stopStream = null;
  unmount();
  unmount = () => {};
  dropKey();
  document.body.classList.add("signed-out");
  clear(main);
  showSignIn(message);
}

function showSignIn(message) {
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert" }, message);
  const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, t("signin.title")),
    h("p", { class: "hint" }, t("signin.help")),
    h("label", { for: "key" }, t("signin.key")), input,
    h("button", { type: "submit", class: "btn primary", id: "signin" }, t("signin.submit")), error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setKey(input.value.trim());
    try {
      await api("/v1/grids");
      await startBoard();
    } catch (err) {
      dropKey();
      error.textContent = err instanceof ApiError && err.status === 401 ? t("signin.bad") : t("signin.error", { msg: err.message });
    }
  });
  clear(main).append(form);
  input.focus();
}

function switchLang() {
  setLang(lang() === "en" ? "zh-CN" : "en");
  translatePage();
  if (live.dataset.state) setLive(live.dataset.state);
  if (!getKey()) showSignIn("");
  else if (unmount.keepsOnLang) languageChanged();  // the view redraws in place: edits and results survive
  else route();
}

function init() {
  setLang(lang());
  translatePage();
  document.getElementById("lang").addEventListener("click", switchLang);
  document.getElementById("signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  whenUnauthorized(() => signOut(t("signin.bad")));
  if (getKey()) startBoard().catch((err) => signOut(err instanceof ApiError && err.status === 401 ? t("signin.bad") : err.message));
  else signOut();
}

init();
