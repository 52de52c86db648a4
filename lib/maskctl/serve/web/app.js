// The maskctl page: plain JavaScript on the server's own JSON API (docs/serve.md), no framework, no CDN.
// Every value from the server goes into the page as text (textContent), never as HTML.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { token: "", info: null, cards: new Map(), violations: [] };
const POLL_MS = 2000;

// ---- access token: ?token= in the address, remembered for this browser tab ----------------------
function initToken() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) sessionStorage.setItem("maskctl-token", fromUrl);
  state.token = sessionStorage.getItem("maskctl-token") || "";
}
function withToken(path) {
  if (!state.token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(state.token);
}
function askForToken() {
  $("#token-bar").hidden = false;
  $("#token-input").focus();
}
$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("#token-input").value.trim();
  sessionStorage.setItem("maskctl-token", state.token);
  $("#token-bar").hidden = true;
  start();
});

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON: reported below by status */ }
  if (res.status === 401) askForToken();
  if (!res.ok) throw new HttpError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

// ---- tabs ---------------------------------------------------------------------------------------
function showTab(name) {
  for (const b of document.querySelectorAll("nav button"))
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== name;
  history.replaceState(null, "", "#" + name);
}
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));

// ---- photo --------------------------------------------------------------------------------------
const fmtPct = (x) => (x == null ? "–" : (100 * x).toFixed(1) + " %");

async function predict(file) {
  const status = $("#photo-status");
  status.className = "status";
  // The server would refuse it anyway (413); saying so here saves sending megabytes for nothing.
  const max = state.info && state.info.max_upload;
  if (max && file.size > max) {
    $("#photo-result").hidden = true;
    status.className = "status error";
    status.textContent = `${file.name}: ${(file.size / 1048576).toFixed(1)} MB is over this server's upload limit ` +
      `of ${(max / 1048576).toFixed(1)} MB.`;
    return;
  }
  status.textContent = `Looking for faces in ${file.name}…`;
  const form = new FormData();
  form.append("image", file, file.name);
  const t0 = performance.now();
  try {
    const r = await api("/api/predict?annotated=1", { method: "POST", body: form });
    $("#photo-image").src = r.image;
    fillFaces(r.faces);
    $("#photo-result").hidden = false;
    const n = r.faces.length;
    status.textContent = `${file.name}: ${n} face${n === 1 ? "" : "s"} in ${r.width}×${r.height} px, ` +
      `${r.ms.toFixed(0)} ms on the server, ${(performance.now() - t0).toFixed(0)} ms in all.`;
  } catch (err) {
    $("#photo-result").hidden = true;
    status.className = "status error";
    status.textContent = `${file.name}: ${err.message}`;
  }
}

function fillFaces(faces) {
  const body = $("#faces-table tbody");
  body.replaceChildren();
  faces.forEach((f, i) => {
    const tr = document.createElement("tr");
    const cells = [String(i + 1), f.display || f.label, fmtPct(f.confidence), f.box.map(Math.round).join(", ")];
    cells.forEach((text, c) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (c === 1) td.className = "label-" + (f.kind || "other");
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  if (faces.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 4;
    td.textContent = "No face found.";
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

const drop = $("#drop-zone");
$("#photo-input").addEventListener("change", (e) => { if (e.target.files[0]) predict(e.target.files[0]); });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) predict(e.dataTransfer.files[0]);
});

// ---- live and compliance: one card of each per source, refreshed from /api/stats ----------------
function makeCards(source) {
  const live = $("#stream-card").content.firstElementChild.cloneNode(true);
  const comp = $("#compliance-card").content.firstElementChild.cloneNode(true);
  for (const card of [live, comp]) {
    card.dataset.source = source.name;
    $(".source-name", card).textContent = source.name;
  }
  $(".stream", live).src = withToken(source.stream);
  $("#streams").appendChild(live);
  $("#compliance-sources").appendChild(comp);
  const cards = { live, comp, state: "" };
  state.cards.set(source.name, cards);
  return cards;
}

function setBadge(el, text) {
  el.textContent = text;
  el.className = "badge state " + text;
}

const WINDOWS = [["in_view", "in view now"], ["last_hour", "last hour"], ["today", "today"], ["since_start", "since start"]];

function updateSource(s) {
  const cards = state.cards.get(s.name) || makeCards(s);
  setBadge($(".state", cards.live), s.state);
  setBadge($(".state", cards.comp), s.state);
  $(".message", cards.live).textContent = s.state === "running" ? "" : (s.message || "");
  // A stream that came back after reconnecting: reopen it, a browser does not retry a closed MJPEG.
  if (cards.state && cards.state !== "running" && s.state === "running") {
    const url = withToken(s.stream);
    $(".stream", cards.live).src = url + (url.includes("?") ? "&" : "?") + "t=" + Date.now();
  }
  cards.state = s.state;
  const st = s.stats || {};
  const set = (key, value) => { $(`[data-counter="${key}"]`, cards.live).textContent = value; };
  set("frames", String(s.frames ?? st.frames ?? 0));
  set("fps", (s.fps ?? st.fps ?? 0).toFixed(1));
  set("in_view", String(st.in_view ? st.in_view.people_total : 0));
  set("with_mask", String(st.last_hour ? st.last_hour.people_with_mask : 0));
  set("without_mask", String(st.last_hour ? st.last_hour.people_without_mask : 0));

  const body = $(".windows tbody", cards.comp);
  body.replaceChildren();
  for (const [key, title] of WINDOWS) {
    const w = st[key];
    if (!w) continue;
    const tr = document.createElement("tr");
    tr.dataset.window = key;
    for (const text of [title, w.people_total, w.people_with_mask, w.people_without_mask, w.people_other,
                        fmtPct(w.compliance), w.violations]) {
      const td = document.createElement("td");
      td.textContent = String(text);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  if (st.series) drawSeries($(".chart", cards.comp), st.series);
}

// Stacked bars: people first seen in each bucket, by label kind.
function drawSeries(canvas, series) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 24;
  ctx.clearRect(0, 0, W, H);
  const n = series.time.length;
  if (n === 0) return;
  const stacks = series.time.map((_, i) => [
    ["--mask", series.people_with_mask[i] || 0],
    ["--no-mask", series.people_without_mask[i] || 0],
    ["--other", series.people_other[i] || 0]]);
  const top = Math.max(1, ...stacks.map((s) => s.reduce((a, [, v]) => a + v, 0)));
  const css = getComputedStyle(document.documentElement);
  const bw = (W - pad) / n;
  ctx.fillStyle = css.getPropertyValue("--muted");
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(String(top), 2, 12);
  ctx.fillText("0", 2, H - 4);
  const minutes = Math.round((n * series.bucket_seconds) / 60);
  ctx.fillText(`${minutes} min ago`, pad, 12);
  ctx.fillText("now", W - 24, 12);
  stacks.forEach((stack, i) => {
    let y = H - 2;
    for (const [color, v] of stack) {
      if (!v) continue;
      const h = ((H - 16) * v) / top;
      ctx.fillStyle = css.getPropertyValue(color);
      ctx.fillRect(pad + i * bw + 1, y - h, Math.max(1, bw - 2), h);
      y -= h;
    }
  });
}

async function pollStats() {
  try {
    const r = await api("/api/stats");
    for (const s of r.sources) updateSource(s);
    $("#live-empty").hidden = r.sources.length > 0;
  } catch (err) {
    if (err.status !== 401) setHealth(false, err.message);
  }
}

// ---- violations: the recent ones, then each new one as it happens (Server-Sent Events) ----------
function addViolation(e) {
  if (e.type !== "violation") return;
  state.violations.unshift(e);
  state.violations.length = Math.min(state.violations.length, 50);
  const body = $("#events-table tbody");
  body.replaceChildren();
  for (const v of state.violations) {
    const tr = document.createElement("tr");
    const when = v.timestamp ? new Date(v.timestamp).toLocaleTimeString() : v.time.toFixed(1) + " s";
    for (const text of [when, v.source, "#" + v.track, v.display || v.label, fmtPct(v.confidence)]) {
      const td = document.createElement("td");
      td.textContent = String(text);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $("#events-empty").hidden = state.violations.length > 0;
}

async function loadEvents() {
  try {
    const r = await api("/api/events?limit=200");
    for (const e of r.events) addViolation(e);  // oldest first, so the newest ends on top
  } catch (_) { /* the SSE stream below retries by itself */ }
  const es = new EventSource(withToken("/api/events/stream"));
  es.addEventListener("detect", (m) => addViolation(JSON.parse(m.data)));
}

// ---- health -------------------------------------------------------------------------------------
function setHealth(ok, text) {
  const h = $("#health");
  h.textContent = text;
  h.className = "badge " + (ok ? "ok" : "down");
}
async function pollHealth() {
  try {
    const res = await fetch("/healthz");
    setHealth(res.ok, res.ok ? "server up" : `server: ${res.status}`);
  } catch (_) {
    setHealth(false, "server unreachable");
  }
}

// ---- start --------------------------------------------------------------------------------------
let timers = [];
async function start() {
  timers.forEach(clearInterval);
  timers = [];
  try {
    state.info = await api("/api/info");
  } catch (err) {
    setHealth(false, err.status === 401 ? "token needed" : err.message);
    return;
  }
  document.title = `maskctl — ${state.info.model.classes.join(" / ")}`;
  for (const s of state.info.sources) if (!state.cards.has(s.name)) makeCards(s);
  $("#live-empty").hidden = state.info.sources.length > 0;
  await Promise.all([pollStats(), pollHealth()]);
  loadEvents();
  timers.push(setInterval(pollStats, POLL_MS), setInterval(pollHealth, 5000));
}

initToken();
const TABS = ["photo", "live", "compliance"];
showTab(TABS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "photo");
start();
