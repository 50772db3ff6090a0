// The work-queue console: plain JavaScript, no build step. Every call carries the admin
// token kept in this tab's sessionStorage; a 401/403 asks for it again.
"use strict";
const STATES = ["waiting", "active", "delayed", "failed", "completed"];
const TOKEN_KEY = "dashboard-admin-token";
const $ = (id) => document.getElementById(id);
let timer = null;
let browse = { state: "waiting", cursor: null, next: null, search: {} };

class Refused extends Error {}

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch("/dashboard/api" + path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 || response.status === 403) {
    signOut(body.detail || "the token was refused");
    throw new Refused(body.detail);
  }
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

// An action: its result (or its error) is shown, then the board is drawn again.
async function act(what, path, options, describe) {
  const out = $("action-result");
  try {
    const result = await api(path, options);
    out.textContent = what + ": " + (describe ? describe(result) : "done");
    out.className = "muted";
  } catch (error) {
    if (error instanceof Refused) return;
    out.textContent = what + " failed: " + error.message;
    out.className = "error";
  }
  await refresh();
}

const post = (body) => ({ method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });
const when = (seconds) => (seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) : "");

function start() {
  $("login").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  refresh();
  drawHealing();
  timer = timer || setInterval(refresh, 2000);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  timer = null;
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("pause-toggle").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  return td;
}

function button(label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", action);
  return b;
}

const jobPath = (id) => "/jobs/" + encodeURIComponent(id);

async function show(id) {
  const job = await api(jobPath(id));
  const pre = $("job-detail");
  pre.classList.remove("muted");
  const { events, ...rest } = job;
  pre.textContent = JSON.stringify(rest, null, 2);
  $("job-events").querySelector("tbody").replaceChildren(...events.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.event = e.event;
    const detail = e.error || (e.retry_in_ms !== undefined ? "retry in " + e.retry_in_ms + " ms" : "")
      || (e.deadline_at ? "deadline " + when(e.deadline_at / 1000) : "");
    tr.append(cell(e.event), cell(when(e.at / 1000)), cell(e.attempt), cell(e.worker), cell(detail));
    return tr;
  }));
}

async function refresh() {
  try {
    await draw();
  } catch (error) {
    if (!(error instanceof Refused)) console.warn("dashboard refresh failed", error);
  }
}

async function draw() {
  const status = await api("/status");
  $("queue-name").textContent = status.queue + " (" + status.backend + ")";
  $("paused-badge").hidden = !status.paused;
  const toggle = $("pause-toggle");
  toggle.hidden = false;
  toggle.textContent = status.paused ? "resume" : "pause";
  $("counts").replaceChildren(...STATES.map((state) => {
    const div = document.createElement("div");
    div.className = "count" + (state === browse.state ? " selected" : "");
    div.dataset.state = state;
    const value = status.counts[state];
    div.innerHTML = "<b></b>" + state;
    div.querySelector("b").textContent = value === null ? "n/a" : value;
    div.addEventListener("click", () => { browse = { state, cursor: null, next: null, search: browse.search }; refresh(); });
    return div;
  }));
  await Promise.all([drawFailed(), drawClasses(), drawBrowse(), drawChart(), drawSchedules()]);
}

async function drawFailed() {
  const { jobs } = await api("/failed");
  $("empty").hidden = jobs.length > 0;
  $("failed").querySelector("tbody").replaceChildren(...jobs.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.jobId = job.id;
    const link = cell("");
    link.appendChild(button(job.id, () => show(job.id)));
    const error = cell(job.error || "");
    if (job.traceback) {
      const details = document.createElement("details");
      details.innerHTML = "<summary>stack</summary><pre></pre>";
      details.querySelector("pre").textContent = job.traceback;
      error.appendChild(details);
    }
    const actions = document.createElement("td");
    actions.append(
      button("retry", () => act("retry " + job.id, jobPath(job.id) + "/retry", post())),
      button("remove", () => act("remove " + job.id, jobPath(job.id), { method: "DELETE" })),
    );
    tr.append(link, cell(job.type), cell(job.attempts), error, actions);
    return tr;
  }));
}

async function drawClasses() {
  const { error_classes: classes } = await api("/error-classes");
  $("classes").replaceChildren(...Object.entries(classes).map(([name, count]) => {
    const span = document.createElement("span");
    span.className = "error-class";
    span.dataset.errorClass = name;
    span.append(name + " × " + count + " ", button("retry all " + name, () =>
      act("retry " + name, "/retry-class", post({ error_class: name }), (r) => r.retried + " retried")));
    return span;
  }));
}

async function drawBrowse() {
  try {
    await drawPage();
  } catch (error) {
    if (error instanceof Refused) throw error;
    $("browse-note").textContent = error.message;
  }
}

async function drawPage() {
  const params = new URLSearchParams({ state: browse.state, limit: $("page-size").value });
  if (browse.cursor) params.set("cursor", browse.cursor);
  for (const [key, value] of Object.entries(browse.search)) if (value) params.set(key, value);
  const page = await api("/jobs?" + params);
  $("browse-state").textContent = browse.state;
  $("browse-note").textContent = page.listable ? (page.items.length ? "" : "No jobs here.") : page.reason;
  browse.next = page.cursor;
  $("next-page").disabled = !page.cursor;
  $("jobs").querySelector("tbody").replaceChildren(...page.items.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.jobId = job.id;
    const link = cell("");
    link.appendChild(button(job.id, () => show(job.id)));
    const at = { active: job.deadline_at || job.visible_until, delayed: job.due_at,
      failed: job.failed_at, completed: job.completed_at, waiting: job.enqueued_at }[browse.state];
    const actions = document.createElement("td");
    if (browse.state === "delayed") actions.append(button("promote", () => act("promote " + job.id, jobPath(job.id) + "/promote", post())));
    if (browse.state === "failed") actions.append(button("retry", () => act("retry " + job.id, jobPath(job.id) + "/retry", post())));
    actions.append(button("remove", () => act("remove " + job.id, jobPath(job.id), { method: "DELETE" })));
    tr.append(link, cell(job.type), cell(job.attempts), cell(when(at)), cell(job.worker || job.error || ""), actions);
    return tr;
  }));
}

async function drawChart() {
  const { minutes } = await api("/chart");
  const svg = $("chart-svg");
  const width = 600, height = 140, bar = width / minutes.length;
  const done = minutes.map((m) => m.completed + m.failed + m.retried);
  const mean = minutes.map((m, i) => (done[i] ? m.run_ms / done[i] : 0));
  const top = Math.max(1, ...done), slowest = Math.max(1, ...mean);
  const parts = minutes.map((m, i) => {
    const h = (done[i] / top) * (height - 10), f = ((m.failed + m.retried) / top) * (height - 10);
    return `<rect x="${i * bar}" y="${height - h}" width="${bar - 1}" height="${h - f}" fill="#6a6"/>` +
      `<rect x="${i * bar}" y="${height - f}" width="${bar - 1}" height="${f}" fill="#c33"/>`;
  });
  const line = mean.map((v, i) => `${i * bar + bar / 2},${height - (v / slowest) * (height - 10)}`).join(" ");
  svg.innerHTML = parts.join("") + `<polyline points="${line}" fill="none" stroke="#246" stroke-width="1.5"/>`;
  const total = done.reduce((a, b) => a + b, 0);
  const run = minutes.reduce((a, m) => a + m.run_ms, 0);
  const hung = minutes.reduce((a, m) => a + m.hung, 0);
  $("chart-summary").textContent = `${total} attempts finished in the last ${minutes.length} minutes` +
    (total ? `, mean run time ${Math.round(run / total)} ms, slowest minute ${Math.round(slowest)} ms` : "") +
    (hung ? `, ${hung} hung (cancelled at their deadline)` : "");
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  start();
});
$("sign-out").addEventListener("click", () => signOut(""));
$("pause-toggle").addEventListener("click", () => {
  const resume = $("pause-toggle").textContent === "resume";
  act(resume ? "resume" : "pause", resume ? "/resume" : "/pause", post());
});
$("clean").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = { state: $("clean-state").value, older_than: Number($("clean-age").value) };
  act("clean " + body.state, "/clean", post(body), (r) => r.removed + " removed");
});
$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  browse.search = { id: $("search-id").value.trim(), field: $("search-field").value.trim(), value: $("search-value").value };
  if (!browse.search.field) delete browse.search.value;
  browse.cursor = null;
  refresh();
  // A job id opens its page too, whatever state it is in.
  if (browse.search.id) show(browse.search.id).catch((error) => {
    if (!(error instanceof Refused)) $("job-detail").textContent = error.message;
  });
});
$("search-clear").addEventListener("click", () => { $("search").reset(); browse.search = {}; browse.cursor = null; refresh(); });
$("next-page").addEventListener("click", () => { browse.cursor = browse.next; refresh(); });
$("first-page").addEventListener("click", () => { browse.cursor = null; refresh(); });
$("page-size").addEventListener("change", () => { browse.cursor = null; refresh(); });
