// voicedesk's page: push-to-talk over /ws/audio, typed commands, the job board, and the
// experiment queue and leaderboard.
//
// Everything is same-origin and relative to the page's address, so it works on localhost and
// behind an HTTPS proxy; the token rides in the HttpOnly cookie that `/?token=T` sets. Data
// from the server is only ever written with textContent.

import * as speech from "./speech.js";

const TAIL_MS = 150; // keep capturing this long after the release: words end late
const PRE_ROLL_CHUNKS = 10; // ~320 ms of audio from just before the press
const MAX_OUTBOX_CHUNKS = 940; // ~30 s of audio waiting for a socket, at most
const UNDELIVERED_MS = 10_000; // a released take still waiting for a socket this long is dropped
const EXPERIMENTS_EVERY_MS = 5_000;
const MAX_LINES = 200;
const NOISE_SUPPRESSION_KEY = "voicedesk.noiseSuppression";
const START = JSON.stringify({ type: "ptt_start" });
const STOP = JSON.stringify({ type: "ptt_stop" });

const $ = (id) => document.getElementById(id);
const ui = {
  ptt: $("ptt"),
  state: $("state"),
  live: $("live"),
  transcript: $("transcript"),
  form: $("command-form"),
  command: $("command"),
  send: $("send"),
  jobs: $("jobs"),
  detail: $("job-detail"),
  experiments: $("experiments"),
  noiseSuppression: $("noise-suppression"),
  speak: $("speak-replies"),
};

/** Numbers for tests and for anyone curious, in the browser console. */
const stats = {
  sampleRate: null,
  micOpenedAt: null,
  chunks: 0,
  samples: 0,
  bytesSent: 0,
  socketsOpened: 0,
};
window.voicedesk = { stats, spoken: speech.spoken };

// ---------------------------------------------------------------- small helpers

/** An element with properties (className, textContent, dataset, attrs) and children. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") {
      for (const [name, attr] of Object.entries(value)) node.setAttribute(name, attr);
    } else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** JSON from a relative URL; throws an Error carrying the server's `detail` on failure. */
async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`.trim();
    try {
      const body = await response.json();
      if (body && typeof body.detail === "string") detail = body.detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(detail);
  }
  return response.json();
}

/** A wall-clock time (epoch seconds) as the user reads it: time today, else date and time. */
function when(seconds) {
  if (typeof seconds !== "number") return "";
  const date = new Date(seconds * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

const clip = (text, n) => (text && text.length > n ? `${text.slice(0, n - 1)}…` : text || "");

// ---------------------------------------------------------------- transcript

const shown = new Map(); // "t|text" / "r|text" → when this page last showed it itself
let partialLine = null;
let partialTimer = null;
let lastNotice = { text: "", at: 0 };

function addLine(kind, main, meta = null, extra = null) {
  const line = h(
    "li",
    { className: `line ${kind}` },
    h("time", { className: "at", textContent: when(Date.now() / 1000) }),
    h("span", { className: "text", textContent: main }),
    meta ? h("span", { className: "meta", textContent: meta }) : null,
    extra,
  );
  if (partialLine && partialLine.isConnected) partialLine.after(line); // the partial stays on top
  else ui.transcript.prepend(line);
  while (ui.transcript.children.length > MAX_LINES) ui.transcript.lastChild.remove();
  return line;
}

function remember(key) {
  shown.set(key, Date.now());
  if (shown.size > 100) shown.delete(shown.keys().next().value);
}

const recentlyShown = (key) => Date.now() - (shown.get(key) || 0) < 15_000;

function showPartial(text) {
  if (!text) return;
  if (!partialLine || !partialLine.isConnected) {
    partialLine = h("li", { className: "line partial", attrs: { "aria-live": "off" } },
      h("time", { className: "at" }), h("span", { className: "text" }));
    ui.transcript.prepend(partialLine);
  }
  partialLine.querySelector(".at").textContent = when(Date.now() / 1000);
  partialLine.querySelector(".text").textContent = text;
  clearTimeout(partialTimer);
  partialTimer = setTimeout(clearPartial, 10_000); // no final came for it
}

function clearPartial() {
  if (partialLine) partialLine.remove();
  partialLine = null;
}

/** A heard or typed command: what was said, what it was understood as, which jobs. */
function showFinal(message, typed) {
  clearPartial();
  remember(`t|${message.transcript}`);
  const intent = message.intent || {};
  const parts = [typed ? "typed" : "heard", intent.type || "unknown"];
  if (intent.agent) parts.push(`→ ${intent.agent}`);
  if (intent.job !== null && intent.job !== undefined) parts.push(`job #${intent.job}`);
  if (typeof message.confidence === "number") {
    parts.push(`${Math.round(message.confidence * 100)}%`);
  }
  if (message.action) parts.push(message.action);
  const ids = Array.isArray(message.job_ids) ? message.job_ids : [];
  const links = ids.length
    ? h("span", { className: "links" }, ...ids.map((id) =>
      h("button", {
        type: "button",
        className: "link",
        textContent: `job #${id}`,
        onclick: () => openDetail(id),
      })))
    : null;
  addLine("final", `“${message.transcript}”`, parts.join(" · "), links);
  for (const id of ids) ensureJob(id);
}

function showReply(text, kind, fromHere) {
  if (!text) return;
  if (fromHere) {
    remember(`r|${text}`);
    speech.speak(text);
  }
  const line = addLine(`reply kind-${kind || "info"}`, text, kind || null);
  line.dataset.kind = kind || "";
  if (/experiment/i.test(text)) refreshExperiments();
}

/** A transcript or reply from /events: shown unless this page showed it itself already. */
async function showRemote(key, show) {
  if (recentlyShown(key)) return;
  await sleep(1000); // our own socket's copy may still be on its way
  if (!recentlyShown(key)) show();
}

// ---------------------------------------------------------------- microphone and socket

const mic = { ctx: null, node: null, stream: null, opening: null, stale: false };
let ws = null;
let retryMs = 1000;
let retryTimer = null;
let armed = false; // the microphone is open: keep a socket open from now on
let holding = null; // "pointer" or "key" while the talk button is held
let capturing = false; // audio goes to the outbox (held, or in the tail after the release)
let releases = 0;
let problem = null; // an error to show until the next press
const outbox = []; // control strings and audio ArrayBuffers, in order, for the socket
let preRoll = [];
const flushes = new Map();
let flushCount = 0;

function showState() {
  let state = "idle";
  let text = "idle";
  if (problem) {
    state = "error";
    text = problem;
  } else if (holding) {
    const ready = mic.node && ws && ws.readyState === WebSocket.OPEN;
    state = ready ? "talking" : "connecting";
    text = ready ? "talking" : "connecting…";
  }
  ui.state.dataset.state = state;
  ui.state.textContent = text;
  ui.ptt.dataset.state = state;
  ui.ptt.setAttribute("aria-pressed", holding ? "true" : "false");
}

function micProblem(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "microphone access was denied: allow it in the browser to talk";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return "no microphone found";
  if (name === "NotReadableError") return "the microphone is busy or unavailable";
  return `cannot open the microphone: ${(error && error.message) || error}`;
}

/** Open the microphone and the 16 kHz worklet once; later calls share the first. */
function openMic() {
  if (mic.node) return Promise.resolve();
  if (!mic.opening) {
    mic.opening = startMic().catch((error) => {
      mic.opening = null;
      throw error;
    });
  }
  return mic.opening;
}

async function startMic() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorklet) {
    throw new Error("this browser cannot capture audio here (it needs HTTPS or localhost)");
  }
  const ctx = new AudioContext(); // made inside the press, so the browser lets it run
  ctx.resume().catch(() => {});
  const loading = ctx.audioWorklet.addModule(new URL("pcm-worklet.js", import.meta.url));
  loading.catch(() => {}); // handled below, after the microphone; not "unhandled" meanwhile
  let stream;
  try {
    // Chrome's noise suppression turns clear speech into other words for Whisper (which copes
    // with noise itself), so it is off unless the user turns it on.
    const noiseSuppression = ui.noiseSuppression.checked;
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression },
    });
    stats.micOpenedAt = performance.now();
    await loading;
  } catch (error) {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    ctx.close().catch(() => {});
    throw error;
  }
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-16k", {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    channelCount: 1,
    channelCountMode: "explicit",
    channelInterpretation: "speakers",
  });
  node.port.onmessage = onWorklet;
  source.connect(node);
  node.connect(ctx.destination); // silent: the processor writes nothing to its output
  for (const track of stream.getAudioTracks()) {
    track.addEventListener("ended", () => {
      closeMic();
      problem = "the microphone went away";
      showState();
    });
  }
  stats.sampleRate = ctx.sampleRate;
  Object.assign(mic, { ctx, node, stream, source });
}

function closeMic() {
  if (mic.stream) mic.stream.getTracks().forEach((track) => track.stop());
  if (mic.ctx) mic.ctx.close().catch(() => {});
  Object.assign(mic, {
    ctx: null, node: null, stream: null, source: null, opening: null, stale: false,
  });
}

function onWorklet(event) {
  const data = event.data;
  if (data instanceof ArrayBuffer) {
    stats.chunks += 1;
    stats.samples += data.byteLength / 2;
    if (capturing) queue(data);
    else {
      preRoll.push(data);
      if (preRoll.length > PRE_ROLL_CHUNKS) preRoll.shift();
    }
  } else if (data && data.type === "flushed") {
    const done = flushes.get(data.id);
    flushes.delete(data.id);
    if (done) done();
  }
}

/** Everything the worklet holds, delivered (or nothing to wait for without a worklet). */
function flushWorklet() {
  if (!mic.node) return Promise.resolve();
  const id = ++flushCount;
  return new Promise((resolve) => {
    flushes.set(id, resolve);
    mic.node.port.postMessage({ type: "flush", id });
    setTimeout(() => flushes.delete(id) && resolve(), 500); // a stopped context never answers
  });
}

function queue(item) {
  outbox.push(item);
  if (outbox.length > MAX_OUTBOX_CHUNKS) {
    const oldestAudio = outbox.findIndex((entry) => entry instanceof ArrayBuffer);
    if (oldestAudio >= 0) outbox.splice(oldestAudio, 1);
  }
  drain();
}

function drain() {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  while (outbox.length) {
    const item = outbox.shift();
    ws.send(item);
    if (item instanceof ArrayBuffer) stats.bytesSent += item.byteLength;
  }
}

function socketUrl() {
  const url = new URL("ws/audio", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = "?mode=push_to_talk&partials=on";
  url.hash = "";
  return url.href;
}

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;
  const socket = new WebSocket(socketUrl());
  socket.binaryType = "arraybuffer";
  ws = socket;
  socket.onopen = () => {
    stats.socketsOpened += 1;
    retryMs = 1000;
    if (problem && problem.startsWith("the server")) problem = null;
    if (capturing && outbox[0] !== START) outbox.unshift(START); // a take that lost its socket
    drain();
    showState();
  };
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") return;
    try {
      onServer(JSON.parse(event.data));
    } catch (error) {
      console.warn("voicedesk: bad message from the server", error);
    }
  };
  socket.onclose = (event) => {
    if (ws === socket) ws = null;
    if (event.code === 1008 || event.code === 1003) {
      problem = `the server refused the microphone stream: ${event.reason || event.code}`;
    }
    showState();
    if (armed && event.code !== 1008) {
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15_000);
    }
  };
}

function onServer(message) {
  switch (message.type) {
    case "partial":
      showPartial(message.text);
      break;
    case "final":
      showFinal(message, false);
      break;
    case "reply":
      if (message.text === lastNotice.text && Date.now() - lastNotice.at < 2000) break;
      showReply(message.text, message.kind, true);
      break;
    case "notice":
      lastNotice = { text: message.text, at: Date.now() };
      remember(`r|${message.text}`);
      addLine("notice", message.text);
      break;
    case "ignored":
      clearPartial();
      addLine("ignored", `“${message.text}”`, "not a command");
      break;
    case "error":
      addLine("error", message.message || "the server reported an error");
      break;
    default: // ready, talking, idle, done
      break;
  }
}

async function press(how) {
  if (holding) return;
  holding = how;
  speech.stop(); // barge-in: the console stops talking when you do
  problem = null;
  releases += 1; // a pending release's tail no longer ends this take
  if (!capturing) {
    capturing = true;
    outbox.push(START, ...preRoll);
    preRoll = [];
  }
  connect();
  if (mic.ctx && mic.ctx.state !== "running") mic.ctx.resume().catch(() => {});
  showState();
  try {
    await openMic();
    armed = true;
  } catch (error) {
    problem = micProblem(error);
    holding = null;
    capturing = false;
    outbox.length = 0;
    queue(STOP); // in case the socket already carried the start
  }
  drain();
  showState();
}

async function release(how) {
  if (holding !== how) return;
  holding = null;
  const take = ++releases;
  showState();
  await sleep(TAIL_MS);
  if (take !== releases) return;
  await flushWorklet();
  if (take !== releases || !capturing) return;
  capturing = false;
  queue(STOP);
  if (mic.stale) closeMic(); // reopened with the new settings at the next press
  if (outbox.length) setTimeout(() => dropUndelivered(take), UNDELIVERED_MS);
}

/** A take the server never got is dropped, not acted on minutes later when it comes back. */
function dropUndelivered(take) {
  if (take !== releases || capturing || !outbox.length) return;
  outbox.length = 0;
  problem = "could not reach the server: what you said was not sent";
  showState();
}

function wireOptions() {
  try {
    ui.noiseSuppression.checked = localStorage.getItem(NOISE_SUPPRESSION_KEY) === "on";
  } catch {
    // storage may be off: keep the default
  }
  ui.noiseSuppression.addEventListener("change", () => {
    try {
      localStorage.setItem(NOISE_SUPPRESSION_KEY, ui.noiseSuppression.checked ? "on" : "off");
    } catch {
      // not remembered, but still used for this page
    }
    if (!mic.node && !mic.opening) return;
    if (capturing || !mic.node) mic.stale = true; // close it once this take is over
    else closeMic();
  });
}

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])")) {
    return true;
  }
  // Space works a focused button, link or checkbox; elsewhere (a job row too) it talks.
  return target !== ui.ptt && target.matches("button, a[href], summary");
}

const isSpace = (event) => event.code === "Space" || event.key === " ";

function wireTalk() {
  ui.ptt.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    press("pointer");
  });
  for (const type of ["pointerup", "pointerleave", "pointercancel"]) {
    ui.ptt.addEventListener(type, () => release("pointer"));
  }
  ui.ptt.addEventListener("touchstart", (event) => {
    event.preventDefault(); // no emulated mouse, no zoom, no callout
    press("pointer");
  }, { passive: false });
  for (const type of ["touchend", "touchcancel"]) {
    ui.ptt.addEventListener(type, () => release("pointer"));
  }
  ui.ptt.addEventListener("contextmenu", (event) => event.preventDefault());
  ui.ptt.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault(); // Enter would only "click"
  });
  document.addEventListener("keydown", (event) => {
    if (!isSpace(event) || typing(event.target)) return;
    event.preventDefault();
    if (!event.repeat) press("key");
  });
  document.addEventListener("keyup", (event) => {
    if (!isSpace(event) || holding !== "key") return;
    event.preventDefault();
    release("key");
  });
  const letGo = () => {
    release("key");
    release("pointer");
  };
  window.addEventListener("blur", letGo);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) letGo();
  });
}

// ---------------------------------------------------------------- typed commands

function wireCommands() {
  ui.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = ui.command.value.trim();
    if (!text) return;
    ui.send.disabled = true;
    try {
      const out = await api("commands", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text }),
      });
      ui.command.value = "";
      showFinal(out, true);
      for (const notice of out.notices || []) {
        remember(`r|${notice}`);
        addLine("notice", notice);
      }
      showReply(out.reply, out.kind, true);
    } catch (error) {
      addLine("error", `could not send the command: ${error.message}`);
    } finally {
      ui.send.disabled = false;
      ui.command.focus();
    }
  });
}

// ---------------------------------------------------------------- jobs

const jobs = new Map();
let detailId = null;
let detailTimer = null;
const fetching = new Set();

function jobRow(job) {
  const result = job.error
    ? h("span", { className: "error-text", textContent: clip(job.error, 240) })
    : h("span", { textContent: clip(job.result, 240) });
  const row = h(
    "tr",
    {
      className: job.id === detailId ? "selected" : "",
      tabIndex: 0,
      dataset: { jobId: String(job.id), status: job.status },
      attrs: { "aria-label": `job ${job.id}, ${job.agent}, ${job.status}: open details` },
    },
    h("td", { className: "num", textContent: String(job.id) }),
    h("td", { className: "agent", textContent: job.agent }),
    h("td", {}, h("span", { className: `badge status-${job.status}`, textContent: job.status })),
    h("td", { className: "task", textContent: clip(job.task, 300), title: job.task || "" }),
    h("td", { className: "result" }, result),
  );
  row.addEventListener("click", () => openDetail(job.id));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      openDetail(job.id);
    }
  });
  return row;
}

/** Put a job on the board, newer data winning; rows stay newest first. */
function upsertJob(job) {
  if (!job || typeof job.id !== "number") return;
  const known = jobs.get(job.id);
  if (known && (known.updated_at || 0) > (job.updated_at || 0)) return;
  const merged = { ...known, ...job };
  jobs.set(job.id, merged);
  const row = jobRow(merged);
  const old = ui.jobs.querySelector(`tr[data-job-id="${job.id}"]`);
  if (old) {
    old.replaceWith(row);
    return;
  }
  ui.jobs.querySelector("tr.empty")?.remove();
  const after = [...ui.jobs.children].find((tr) => Number(tr.dataset.jobId) < job.id);
  ui.jobs.insertBefore(row, after || null);
}

async function refreshJobs() {
  try {
    const list = await api("jobs");
    for (const job of list) upsertJob(job);
  } catch (error) {
    console.warn("voicedesk: cannot load jobs:", error.message);
  }
}

/** Fetch a job the board has not seen yet (a job_event can come before its job event). */
async function ensureJob(id) {
  if (jobs.has(id) || fetching.has(id)) return;
  fetching.add(id);
  try {
    upsertJob(await api(`jobs/${id}`));
  } catch (error) {
    console.warn(`voicedesk: cannot load job ${id}:`, error.message);
  } finally {
    fetching.delete(id);
  }
}

async function openDetail(id) {
  detailId = id;
  for (const tr of ui.jobs.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  ui.jobs.querySelector(`tr[data-job-id="${id}"]`)?.classList.add("selected");
  ui.detail.hidden = false;
  if (ui.detail.dataset.jobId !== String(id)) {
    ui.detail.replaceChildren(h("p", { className: "muted", textContent: `Loading job #${id}…` }));
  }
  ui.detail.dataset.jobId = String(id);
  await loadDetail(id);
}

async function loadDetail(id) {
  try {
    const detail = await api(`jobs/${id}`);
    if (detailId !== id) return;
    renderDetail(detail);
    const { log: _log, events: _events, ...job } = detail;
    upsertJob(job);
  } catch (error) {
    if (detailId !== id) return;
    ui.detail.replaceChildren(
      detailHeader(id, null),
      h("p", { className: "error-text", textContent: `cannot load job #${id}: ${error.message}` }),
    );
  }
}

function closeDetail() {
  detailId = null;
  ui.detail.hidden = true;
  ui.detail.replaceChildren();
  delete ui.detail.dataset.jobId;
  for (const tr of ui.jobs.querySelectorAll("tr.selected")) tr.classList.remove("selected");
}

function detailHeader(id, job) {
  const actions = h("div", { className: "actions" });
  if (job && (job.status === "queued" || job.status === "running")) {
    actions.append(h("button", {
      type: "button",
      className: "danger",
      textContent: "Cancel job",
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        try {
          upsertJob(await api(`jobs/${id}/cancel`, { method: "POST" }));
        } catch (error) {
          addLine("error", `could not cancel job #${id}: ${error.message}`);
        }
        loadDetail(id);
      },
    }));
  }
  actions.append(h("button", {
    type: "button",
    className: "quiet",
    textContent: "Close",
    attrs: { "aria-label": "close the job details" },
    onclick: closeDetail,
  }));
  const title = job ? `Job #${id} · ${job.agent}` : `Job #${id}`;
  return h("div", { className: "detail-head" }, h("h3", { textContent: title }), actions);
}

function renderDetail(job) {
  const pre = ui.detail.querySelector("pre.log");
  const atBottom = pre ? pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8 : true;
  const facts = [
    ["Status", h("span", { className: `badge status-${job.status}`, textContent: job.status })],
    ["Task", job.task],
    ["Created", when(job.created_at)],
    ["Updated", when(job.updated_at)],
    ["Started", when(job.started_at)],
    ["Finished", when(job.finished_at)],
    ["Attempts", String(job.attempts ?? 0)],
    ["Cost", typeof job.cost_usd === "number" ? `$${job.cost_usd.toFixed(4)}` : ""],
    ["Session", job.session_id],
    ["Worktree", job.worktree],
    ["Result", job.result],
    ["Error", job.error],
  ].filter(([, value]) => value);
  const list = h("dl", { className: "facts" });
  for (const [name, value] of facts) list.append(h("dt", { textContent: name }), h("dd", {}, value));
  const events = h("ol", { className: "events" });
  for (const event of job.events || []) {
    events.append(h("li", {},
      h("time", { textContent: when(event.at) }),
      h("span", { className: "kind", textContent: event.kind }),
      h("span", { className: "message", textContent: event.message })));
  }
  const log = h("pre", { className: "log", textContent: job.log || "(no log yet)" });
  ui.detail.replaceChildren(
    detailHeader(job.id, job),
    list,
    h("h4", { textContent: "Events" }),
    events.children.length ? events : h("p", { className: "muted", textContent: "No events." }),
    h("h4", { textContent: "Log" }),
    log,
  );
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function refreshDetailSoon(id) {
  if (id !== detailId) return;
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => detailId === id && loadDetail(id), 250);
}

// ---------------------------------------------------------------- experiments

let experimentsLoading = false;

/** Seconds as "m:ss" or "h:mm:ss". */
function clockSpan(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const [hours, minutes, secs] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${pad(minutes)}:${pad(secs)}` : `${minutes}:${pad(secs)}`;
}

/** How long a queued experiment has waited, or a running one has run (and where). */
function elapsed(e) {
  const now = Date.now() / 1000;
  if (e.status === "needs_change") return `waiting for a patch ${clockSpan(now - e.created_at)}`;
  if (e.status !== "running") return `waiting ${clockSpan(now - e.created_at)}`;
  const where = e.gpu ? ` · gpu ${e.gpu}` : e.worker ? ` · ${e.worker}` : "";
  const budget = typeof e.budget_s === "number" ? ` / ${clockSpan(e.budget_s)}` : "";
  return `running ${clockSpan(now - (e.started_at || now))}${budget}${where}`;
}

/** A metric with autoresearch's six decimals (very large ones in significant digits). */
const metricText = (value) => (Math.abs(value) < 1e4 ? value.toFixed(6) : value.toPrecision(8));

const badge = (status) => h("span", { className: `badge status-${status}`, textContent: status });

function boardTable(className, label, headings, rows) {
  const head = h("tr", {}, ...headings.map((text) => h("th", { scope: "col", textContent: text })));
  return h("div", { className: "table-wrap" },
    h("table", { className: `board ${className}`, attrs: { "aria-label": label } },
      h("thead", {}, head), h("tbody", {}, ...rows)));
}

/** Running experiments (longest running first), the queue in the order it will run, then
 * those still waiting for their patch. */
function queueTable(running, queued, waiting) {
  const order = [...running].sort((a, b) => (a.started_at || 0) - (b.started_at || 0));
  const rows = [...order, ...[...queued].reverse(), ...[...waiting].reverse()].map((e) =>
    h("tr", { dataset: { experimentId: String(e.id), status: e.status }, title: e.reason || "" },
      h("td", { className: "num", textContent: String(e.id) }),
      h("td", { className: "task", textContent: clip(e.description, 300), title: e.description }),
      h("td", {}, badge(e.status)),
      h("td", { className: "by", textContent: e.proposed_by }),
      h("td", { className: "when", textContent: elapsed(e) })));
  return boardTable("queue", "Queue", ["#", "Description", "Status", "Proposed by", "Time"], rows);
}

/** Judged results, best first: kept ones stand out, discarded ones are muted. */
function leaderboardTable(board) {
  const metric = board[0].metric_name || "metric";
  const rows = board.map((e, index) =>
    h("tr", {
      className: `status-row-${e.status}`,
      dataset: { experimentId: String(e.id), status: e.status },
      title: e.reason || "",
    },
    h("td", { className: "num rank", textContent: String(index + 1) }),
    h("td", { className: "metric", textContent: metricText(e.metric_value) }),
    h("td", {}, badge(e.status)),
    h("td", { className: "task" },
      h("span", { textContent: clip(e.description, 300), title: e.description }),
      h("span", { className: "muted id", textContent: ` #${e.id}` })),
    h("td", {
      className: "memory",
      textContent: typeof e.peak_vram_mb === "number" ? `${(e.peak_vram_mb / 1024).toFixed(1)} GB` : "",
    })));
  return boardTable("leaderboard", "Leaderboard", ["Rank", metric, "Status", "Description", "Memory"],
    rows);
}

async function refreshExperiments() {
  if (experimentsLoading) return;
  experimentsLoading = true;
  try {
    const [board, running, queued, waiting] = await Promise.all([
      api("experiments/leaderboard"),
      api("experiments?status=running"),
      api("experiments?status=queued"),
      api("experiments?status=needs_change"),
    ]);
    const parts = [];
    if (running.length || queued.length || waiting.length) {
      parts.push(h("h3", { className: "sub", textContent: "Queue" }),
        queueTable(running, queued, waiting));
    }
    if (board.length) {
      parts.push(h("h3", { className: "sub", textContent: "Leaderboard" }), leaderboardTable(board));
    }
    if (!parts.length) {
      const any = (await api("experiments?limit=1")).length;
      parts.push(h("p", {
        className: "empty",
        textContent: any ? "Nothing queued and no results yet" : "No experiments yet",
      }));
    }
    ui.experiments.replaceChildren(...parts);
  } catch (error) {
    console.warn("voicedesk: cannot load experiments:", error.message);
  } finally {
    experimentsLoading = false;
  }
}

// ---------------------------------------------------------------- agents waiting for you

/** Allow / Deny for an agent's question; the reply says what was told to it. */
function answerButtons(jobId) {
  const box = h("span", { className: "links answers" });
  const answer = async (text) => {
    for (const button of box.querySelectorAll("button")) button.disabled = true;
    try {
      const told = await api(`jobs/${jobId}/answer`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text }),
      });
      showReply(`Told ${told.agent}: ${text}.`, "done", true);
    } catch (error) {
      addLine("error", `could not answer job #${jobId}: ${error.message}`);
    }
  };
  box.append(
    h("button", { type: "button", className: "link", textContent: "Allow",
                  onclick: () => answer("yes") }),
    h("button", { type: "button", className: "link", textContent: "Deny",
                  onclick: () => answer("no") }),
    h("button", { type: "button", className: "link", textContent: `job #${jobId}`,
                  onclick: () => openDetail(jobId) }),
  );
  return box;
}

// ---------------------------------------------------------------- server-sent events

function listen() {
  const source = new EventSource("events");
  const live = (state, text) => {
    ui.live.dataset.live = state;
    ui.live.textContent = text;
  };
  source.onopen = () => {
    live("live", "live");
    refreshJobs(); // anything missed while the stream was down
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      live("offline", "offline");
      setTimeout(listen, 5000);
    } else live("connecting", "reconnecting…");
  };
  const on = (name, handle) => source.addEventListener(name, (event) => {
    try {
      handle(JSON.parse(event.data));
    } catch (error) {
      console.warn(`voicedesk: bad ${name} event`, error);
    }
  });
  on("job", (job) => {
    upsertJob(job);
    refreshDetailSoon(job.id);
  });
  on("job_event", (event) => {
    ensureJob(event.job);
    refreshDetailSoon(event.job);
  });
  on("transcript", (event) => {
    if (!event.final) return; // partials only from this page's own microphone
    showRemote(`t|${event.text}`, () =>
      addLine("final remote", `“${event.text}”`, `heard (${event.source || "elsewhere"})`));
  });
  on("reply", (event) => {
    showRemote(`r|${event.text}`, () => showReply(event.text, event.kind, false));
  });
  on("alert", (event) => {
    if (event.show === false) return;
    const answers = event.kind === "needs_input" && event.job_id ? answerButtons(event.job_id) : null;
    addLine(`alert kind-${event.kind}`, event.text, event.kind.replace("_", " "), answers);
    if (event.speak) speech.speak(event.text);
    if (event.job_id) ensureJob(event.job_id);
    if (event.experiment_id) refreshExperiments();
  });
}

// ---------------------------------------------------------------- start

wireTalk();
wireOptions();
wireCommands();
speech.configure(api).then(() => speech.wireToggle(ui.speak));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && detailId !== null) closeDetail();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    refreshJobs();
    refreshExperiments();
  }
});
showState();
refreshJobs();
refreshExperiments();
setInterval(refreshExperiments, EXPERIMENTS_EVERY_MS);
listen();
