// Speech out for voicedesk's page: replies and alerts spoken by the browser's own speech
// synthesis or by the server's voice (GET speech?text=…, a WAV), as [speech] web says.
// Pressing to talk stops it at once (barge-in). The "Speak replies" box turns it off here.

const SPEAK_KEY = "voicedesk.speak";
const MAX_QUEUE = 10;

const state = { mode: "off", queue: [], current: null, audio: null, busy: false };
/** What was spoken, for tests and for anyone curious: {text, via, at, stoppedAt}. */
export const spoken = [];

export function enabled() {
  return state.mode !== "off" && localStorage.getItem(SPEAK_KEY) !== "off";
}

/** Read [speech] web from the server; "off" if it cannot be read. */
export async function configure(api) {
  try {
    const config = await api("speech/config");
    state.mode = config.web;
    if (state.mode === "browser" && !("speechSynthesis" in window)) state.mode = "server";
    if (state.mode === "server" && config.engine === "none") state.mode = "off";
  } catch (error) {
    state.mode = "off";
  }
  return state.mode;
}

export function wireToggle(box) {
  box.checked = localStorage.getItem(SPEAK_KEY) !== "off";
  box.disabled = state.mode === "off";
  box.addEventListener("change", () => {
    localStorage.setItem(SPEAK_KEY, box.checked ? "on" : "off");
    if (!box.checked) stop();
  });
}

/** Queue one line to be spoken after what is already queued. */
export function speak(text) {
  if (!text || !enabled()) return;
  if (state.queue.length >= MAX_QUEUE) state.queue.shift();
  state.queue.push(text);
  if (!state.busy) next();
}

/** Stop speaking now and forget the queue (the user started talking). */
export function stop() {
  state.queue.length = 0;
  if (state.current) state.current.stoppedAt = performance.now();
  if ("speechSynthesis" in window) window.speechSynthesis.cancel();
  if (state.audio) {
    state.audio.pause();
    state.audio.src = "";
    state.audio = null;
  }
  state.busy = false;
  state.current = null;
}

function done(entry) {
  if (state.current !== entry) return;
  state.current = null;
  state.busy = false;
  next();
}

function next() {
  const text = state.queue.shift();
  if (text === undefined) return;
  state.busy = true;
  const entry = { text, via: state.mode, at: performance.now(), stoppedAt: null, played: false };
  state.current = entry;
  spoken.push(entry);
  if (state.mode === "browser") {
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.onstart = () => { entry.played = true; };
    utterance.onend = () => done(entry);
    utterance.onerror = () => done(entry);
    window.speechSynthesis.speak(utterance);
    return;
  }
  const audio = new Audio(`speech?text=${encodeURIComponent(text)}`);
  state.audio = audio;
  audio.onplaying = () => { entry.played = true; };
  audio.onended = () => done(entry);
  audio.onerror = () => done(entry);
  audio.play().catch(() => done(entry));
}
