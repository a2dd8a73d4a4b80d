// Vigil's browser client: protocol v1 over the gateway's own /v1/stream.
//
// Flow: credentials (URL fragment #client_id=...&token=... or the form) -> camera -> hello ->
// queued/welcome -> every 1/fps seconds a `frame` text message and the JPEG, while decisions,
// statuses and errors are handled as they arrive (the browser reads them concurrently with
// sending, so keepalive pings are always answered). The connection is retried with backoff,
// except after a refusal that retrying cannot fix (1008) or a sign-out or block.

import { captureJpeg, openCamera } from "./camera.js";
import {
  STATE_WORDS, blockedWords, cameraWords, closeWords, errorWords, reasonWords,
} from "./words.js";

const DEFAULT_FPS = 2; // enough for continuous checking; never above the server's max_fps
const START_QUALITY = 0.8;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const STREAM_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;

const $ = (id) => document.getElementById(id);
const view = {
  state: $("state"), detail: $("detail"), problem: $("problem"), counts: $("counts"),
  form: $("signin"), video: $("camera"), canvas: $("preview"), cover: $("cover"),
  coverTitle: $("cover-title"), coverReason: $("cover-reason"), coverCode: $("cover-code"),
  coverNext: $("cover-next"), again: $("again"),
};

// Show a state; `cover` ({reason, code, next, again}) covers the whole page.
function show(state, detail = "", cover = null) {
  document.body.dataset.state = state;
  view.state.textContent = STATE_WORDS[state];
  view.detail.textContent = detail;
  view.cover.hidden = cover === null;
  if (cover !== null) {
    view.coverTitle.textContent = STATE_WORDS[state];
    view.coverReason.textContent = cover.reason;
    view.coverCode.textContent = cover.code ?? "";
    view.coverNext.textContent = cover.next ?? "";
    view.again.hidden = !cover.again;
  }
}

class Session {
  constructor(credentials) {
    this.credentials = credentials;
    this.quality = START_QUALITY;
    this.attempt = 0; // failed connections in a row, for the backoff
    this.sent = 0;
    this.decided = 0;
    this.ws = null;
  }

  connect() {
    this.final = false; // set by a sign-out or block: no reconnecting
    this.paused = false;
    this.seq = 0;
    this.lastDecided = 0;
    show("connecting");
    const ws = new WebSocket(STREAM_URL);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({
      type: "hello", protocol: 1, client_id: this.credentials.clientId,
      token: this.credentials.token,
    }));
    ws.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    ws.onclose = (event) => this.onClose(ws, event);
  }

  onMessage(message) {
    switch (message.type) {
      case "welcome": return this.onWelcome(message);
      case "queued": return show("queued", `Position ${message.position} in the queue.`);
      case "decision": return this.onDecision(message);
      case "status": return this.onStatus(message);
      case "error": view.problem.textContent = errorWords(message.code, message.message); return;
      default: console.warn("unknown server message", message);
    }
  }

  onWelcome(message) {
    this.attempt = 0;
    this.maxBytes = message.max_frame_bytes;
    const fps = Math.min(this.credentials.fps, message.max_fps);
    show("checking", `Sending ${fps} frame${fps === 1 ? "" : "s"} a second.`);
    view.problem.textContent = "";
    this.timer = setInterval(() => this.sendFrame(), 1000 / fps);
  }

  async sendFrame() {
    const ws = this.ws;
    // Skip a tick rather than queue: the last frame is still going out, or being encoded.
    if (this.paused || this.encoding || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount) {
      return;
    }
    this.encoding = true;
    try {
      const capturedAt = Date.now();
      const jpeg = await captureJpeg(view.video, view.canvas, this.quality, this.maxBytes);
      if (jpeg === null || ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      this.quality = jpeg.quality;
      this.seq += 1;
      ws.send(JSON.stringify({ type: "frame", seq: this.seq, captured_at: capturedAt }));
      ws.send(jpeg.bytes);
      this.sent += 1;
      this.showCounts();
    } finally {
      this.encoding = false;
    }
  }

  onDecision(message) {
    this.decided += 1;
    this.showCounts();
    if (message.seq < this.lastDecided) return; // an older frame's answer: the state moved on
    this.lastDecided = message.seq;
    const cover = { reason: reasonWords(message.reason), code: message.reason };
    switch (message.action) {
      case "allow": return show("allowed", watching(message));
      case "lock_screen":
        return show("locked", "", { ...cover, next: "It unlocks when the enrolled user is in view again." });
      case "sign_out":
        this.end();
        return show("signed_out", "", { ...cover, next: "Sign in again when ready.", again: true });
      case "block":
        this.end();
        return show("blocked", "", cover);
      default: console.warn("unknown action", message);
    }
  }

  onStatus(message) {
    if (message.state === "paused") {
      this.paused = true;
      show("paused", `An operator paused checking${message.reason ? `: ${message.reason}` : ""}. No frames are sent.`);
    } else if (message.state === "resumed") {
      this.paused = false;
      show("checking", "An operator resumed checking.");
    } else if (message.state === "blocked") {
      this.end();
      show("blocked", "", { reason: blockedWords(message.reason), code: "blocked" });
    }
  }

  onClose(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.timer);
    if (this.final) return; // signed out or blocked: the cover says so
    const words = closeWords(event.code, event.reason);
    if (event.code === 1008) {
      this.final = true;
      if (event.reason.startsWith("blocked")) {
        return show("blocked", "", { reason: words, code: "blocked" });
      }
      return show("refused", words);
    }
    if (event.code === 1009) this.quality = Math.max(0.3, this.quality - 0.2);
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.75 + Math.random() / 2);
    this.attempt += 1;
    show("reconnecting", `${words} Trying again in ${Math.ceil(delay / 1000)} s.`);
    setTimeout(() => this.connect(), delay);
  }

  // Stop sending and close our end (sign-out, block).
  end() {
    this.final = true;
    clearInterval(this.timer);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, "done");
  }

  showCounts() {
    view.counts.textContent = `Frames sent: ${this.sent} · decisions received: ${this.decided}`;
  }
}

// "Allowed", and what is building up when the policy waits for more frames (debounce).
function watching(message) {
  if (message.reason === "ok") return reasonWords("ok");
  const { streak, streak_needed: needed } = message.scores ?? {};
  return `Watching: ${reasonWords(message.reason)}${needed ? ` (${streak} of ${needed})` : ""}`;
}

// #client_id=...&token=...[&fps=N] — then removed from the address bar and history.
function credentialsFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const clientId = params.get("client_id");
  const token = params.get("token");
  if (!clientId || !token) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return { clientId, token, fps: Number(params.get("fps")) || DEFAULT_FPS };
}

function credentialsFromForm() {
  show("signin", "Enter the client id and token an operator gave you.");
  view.form.hidden = false;
  return new Promise((resolve) => {
    view.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(view.form);
      view.form.hidden = true;
      resolve({ clientId: String(data.get("client_id")).trim(), token: String(data.get("token")), fps: DEFAULT_FPS });
    }, { once: true });
  });
}

async function main() {
  const credentials = credentialsFromFragment() ?? await credentialsFromForm();
  show("camera");
  try {
    await openCamera(view.video);
  } catch (error) {
    show("camera_problem", cameraWords(error));
    return;
  }
  const session = new Session(credentials);
  view.again.addEventListener("click", () => session.connect());
  session.connect();
}

main();
