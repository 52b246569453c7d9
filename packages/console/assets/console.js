// The Restitch console page. Everything tenant-controlled (routes, logs, bodies, headers, error
// messages) is put in the page as text (textContent / text nodes), never parsed as HTML.
"use strict";

const API = "api";
const MAX_ROWS = 200;
const POLL_MS = 1500;
/** How long the try-it form waits for the run its request produced (workers report runs asynchronously). */
const RUN_WAIT_MS = 4000;

const $ = (id) => document.getElementById(id);

/** el("td", { class: "num" }, "text", childNode…): strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function getJson(url) {
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (res.status === 401) throw new Error("the console token is missing or wrong: open the URL printed at start");
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// ---- endpoint tables -------------------------------------------------------------------------------

function renderApps(data) {
  const section = $("apps");
  $("apps-status").remove();
  const info = Object.entries(data.server || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  $("server-info").textContent = info;
  for (const app of data.apps) {
    section.append(el("h3", {}, `${app.name} `, el("span", { class: "hint" }, `app id ${app.appId}${app.environment ? `, environment ${app.environment}` : ""}`)));
    if (app.endpoints.length === 0) section.append(el("p", { class: "hint" }, "No HTTPS endpoints."));
    else {
      const body = el("tbody");
      for (const ep of app.endpoints) {
        const tags = [];
        if (ep.disabled) tags.push(el("span", { class: "tag off" }, "disabled"));
        if (!ep.respondResult) tags.push(el("span", { class: "tag" }, "no result"));
        if (ep.canEvaluate) tags.push(el("span", { class: "tag" }, "can_evaluate"));
        if (ep.fetchCustomUserData) tags.push(el("span", { class: "tag" }, "custom user data"));
        if (ep.createUserOnAuth) tags.push(el("span", { class: "tag" }, "create user"));
        body.append(
          el(
            "tr",
            { "data-route": ep.route, "data-method": ep.method },
            el("td", { class: "mono" }, ep.method),
            el("td", { class: "mono" }, ep.path),
            el("td", { class: "mono" }, ep.function),
            el("td", {}, ep.runsAs),
            el("td", {}, ep.validation === "NO_VALIDATION" ? "none" : `${ep.validation}${ep.secretName ? ` (${ep.secretName})` : ""}`),
            el("td", {}, ep.returnType),
            el("td", {}, ...tags),
            el("td", {}, el("button", { class: "small", type: "button", onclick: () => fillTry(ep) }, "Try")),
          ),
        );
      }
      section.append(
        el(
          "table",
          { class: "endpoints", "data-app": app.appId },
          el("thead", {}, el("tr", {}, ...["method", "path", "function", "runs as", "validation", "returns", "", ""].map((h) => el("th", {}, h)))),
          body,
        ),
      );
    }
    if (app.dataApi) {
      const d = app.dataApi;
      section.append(el("p", { class: "hint" }, `Data API ${d.versions.join(", ")}: ${d.disabled ? "disabled" : "enabled"}, runs as ${d.runsAs}, validation ${d.validation}, returns ${d.returnType}`));
    }
  }
  const first = data.apps.flatMap((a) => a.endpoints).find((e) => !e.disabled);
  if (first && !$("try-path").value) fillTry(first);
}

function fillTry(ep) {
  $("try-method").value = ep.method === "*" ? "GET" : ep.method;
  $("try-path").value = ep.path;
  $("try-path").focus();
}

// ---- recent runs -----------------------------------------------------------------------------------

let latest = 0;

function statusClass(status) {
  return status < 400 ? "ok" : "bad";
}

function formatTime(at) {
  const d = new Date(at);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

function runRow(run) {
  const note = run.error ? `${run.error.name}: ${run.error.message}` : run.firstLog !== undefined ? run.firstLog + (run.logCount > 1 ? ` (+${run.logCount - 1} lines)` : "") : "";
  return el(
    "tr",
    { class: "run", "data-run-id": run.id, onclick: () => (location.hash = `run-${run.id}`) },
    el("td", { class: "num" }, run.id),
    el("td", {}, formatTime(run.at)),
    el("td", { class: "mono" }, run.appId),
    el("td", { class: "mono" }, run.method),
    el("td", { class: "mono" }, run.route),
    el("td", { class: statusClass(run.status) }, run.status),
    el("td", { class: "num" }, run.ms.toFixed(1)),
    el("td", { class: "num" }, run.worker ?? ""),
    el("td", { class: run.error ? "mono bad" : "mono" }, note),
  );
}

async function pollRuns() {
  try {
    const data = await getJson(`${API}/runs?after=${latest}&limit=${MAX_ROWS}`);
    const body = $("runs-table").tBodies[0];
    // Newest first: insert the batch above the rows already shown, in order.
    const anchor = body.firstChild;
    for (const run of data.runs) body.insertBefore(runRow(run), anchor);
    while (body.rows.length > MAX_ROWS) body.lastChild.remove();
    if (data.runs.length > 0) latest = data.runs[0].id;
    $("runs-empty").hidden = body.rows.length > 0;
    $("runs-status").textContent = "";
    highlightSelected();
  } catch (e) {
    $("runs-status").textContent = `(${e.message})`;
  }
}

// ---- one run -----------------------------------------------------------------------------------------

function runDetail(run) {
  const fields = [
    ["run", `#${run.id}`],
    ["finished", new Date(run.at).toISOString()],
    ["app", run.appId],
    ["request", `${run.method} ${run.route}`],
    ["status", run.status],
    ["wall time", `${run.ms.toFixed(3)} ms`],
  ];
  if (run.worker !== undefined) fields.push(["worker", `pid ${run.worker}`]);
  for (const [k, v] of Object.entries(run.details || {})) fields.push([k, v]);
  if (run.error) fields.push(["error", `${run.error.kind}: ${run.error.name}: ${run.error.message}`]);
  const logs = run.logs.length === 0 ? "(nothing logged)" : run.logs.join("\n");
  return [
    el("dl", {}, ...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "error" ? "mono bad" : "mono" }, v)])),
    el("h3", {}, "Logs", run.logsOmitted ? el("span", { class: "hint" }, ` (${run.logsOmitted} more lines not kept)`) : undefined),
    el("pre", { class: "logs" }, logs),
  ];
}

async function showRunFromHash() {
  const m = /^#run-(\d+)$/.exec(location.hash);
  const panel = $("run-detail");
  highlightSelected();
  if (!m) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.replaceChildren(el("h2", {}, `Run #${m[1]} `, el("a", { href: "#" }, "close")), el("p", { class: "hint" }, "Loading…"));
  try {
    const run = await getJson(`${API}/runs/${m[1]}`);
    panel.replaceChildren(el("h2", {}, `Run #${run.id} `, el("a", { href: "#" }, "close")), ...runDetail(run));
  } catch (e) {
    panel.replaceChildren(el("h2", {}, `Run #${m[1]} `, el("a", { href: "#" }, "close")), el("p", { class: "bad" }, e.message));
  }
  panel.scrollIntoView({ block: "nearest" });
}

function highlightSelected() {
  const m = /^#run-(\d+)$/.exec(location.hash);
  for (const row of $("runs-table").tBodies[0].rows) row.classList.toggle("selected", m !== null && row.dataset.runId === m[1]);
}

// ---- try it ------------------------------------------------------------------------------------------

function parseHeaders(text) {
  const headers = new Headers();
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`headers line ${i + 1}: expected 'Name: value'`);
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

function prettyBody(text, contentType) {
  if (contentType && /json/.test(contentType)) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON after all: show it as sent
    }
  }
  return text;
}

/** The run a try-it request produced: same request id when the server reports one, else the first matching run after it was sent. */
async function findRun(after, method, path, requestId) {
  const deadline = Date.now() + RUN_WAIT_MS;
  while (Date.now() < deadline) {
    const data = await getJson(`${API}/runs?after=${after}&limit=1000`);
    const candidates = data.runs.slice().reverse(); // oldest first
    const run = requestId
      ? candidates.find((r) => r.details && r.details.requestId === requestId)
      : candidates.find((r) => r.method === method && (`/app/${r.appId}/endpoint${r.route}` === path || r.route === path));
    if (run) return getJson(`${API}/runs/${run.id}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  return undefined;
}

async function sendTry(event) {
  event.preventDefault();
  const method = $("try-method").value;
  const path = $("try-path").value.trim();
  const query = $("try-query").value.trim().replace(/^\?/, "");
  const result = $("try-result");
  const runBox = $("try-run");
  result.hidden = false;
  $("try-status").textContent = "…";
  $("try-status").className = "";
  $("try-time").textContent = "";
  $("try-response-headers").textContent = "";
  $("try-response-body").textContent = "";
  runBox.replaceChildren(el("span", { class: "hint" }, "waiting for the run…"));
  let headers;
  try {
    if (!path.startsWith("/")) throw new Error("the path must start with / (e.g. /app/<app id>/endpoint/hello)");
    headers = parseHeaders($("try-headers").value);
  } catch (e) {
    $("try-status").textContent = e.message;
    $("try-status").className = "bad";
    runBox.replaceChildren();
    return;
  }
  const bodyText = $("try-body").value;
  // The newest run before sending: the run this request produces comes after it.
  const before = (await getJson(`${API}/runs?limit=1`)).latest;
  const started = performance.now();
  let res;
  try {
    // Same origin; the console cookie is scoped to /_restitch/ and never sent to the app.
    res = await fetch(path + (query ? `?${query}` : ""), {
      method,
      headers,
      credentials: "omit",
      redirect: "manual",
      ...(method === "GET" || bodyText === "" ? {} : { body: bodyText }),
    });
  } catch (e) {
    $("try-status").textContent = `request failed: ${e.message}`;
    $("try-status").className = "bad";
    runBox.replaceChildren();
    return;
  }
  const text = await res.text();
  $("try-status").textContent = `${res.status} ${res.statusText}`;
  $("try-status").className = statusClass(res.status);
  $("try-time").textContent = `${(performance.now() - started).toFixed(1)} ms in the browser`;
  $("try-response-headers").textContent = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  $("try-response-body").textContent = prettyBody(text, res.headers.get("content-type")) || "(empty body)";
  const run = await findRun(before, method, path, res.headers.get("x-request-id"));
  if (run) {
    runBox.replaceChildren(el("p", {}, el("a", { href: `#run-${run.id}` }, `Run #${run.id}`), ` · ${run.status} · ${run.ms.toFixed(1)} ms`), ...runDetail(run));
  } else {
    runBox.replaceChildren(el("span", { class: "hint" }, "No run was recorded: the request was answered before any function ran (no such endpoint, or validation or authentication refused it)."));
  }
  pollRuns();
}

// ---- start -------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("try-form").addEventListener("submit", sendTry);
  window.addEventListener("hashchange", showRunFromHash);
  try {
    renderApps(await getJson(`${API}/apps`));
  } catch (e) {
    $("apps-status").textContent = e.message;
    $("apps-status").className = "bad";
  }
  await pollRuns();
  showRunFromHash();
  setInterval(pollRuns, POLL_MS);
});
