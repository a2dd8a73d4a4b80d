// Vigil's browser client: protocol v1 over the gateway's own /v1/stream.
//
// Flow: credentials (URL fragment #client_id=...&token=... or the form) -> camera -> hello ->
// queued/welcome -> every 1/fps seconds a `frame` text message and the JPEG, while decisions,
// statuses and errors are handled as they arrive (the browser reads them concurrently with
// sending, so keepalive pings are always answered). The connection is retried with backoff,
// except after a refusal that retrying cannot fix (1008) or a sign-out or block.

import { captureJpeg, openCamera } from "./camera.js";
import { ChallengePanel } from "./challenge.js";
import {
  STATE_WORDS, blockedWords, cameraWords, closeWords, decisionWords, errorWords, lockState,
  reasonWords, unlockWords,
} from "./words.js";

const DEFAULT_FPS = 2; // enough for continuous checking; never above the server's max_fps
const START_QUALITY = 0.8;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
// Frames sent but not yet decided: at most this many, so a slow server gets fewer frames
// instead of dropping them (a frame dropped by the server gets no decision; after
// AWAIT_MS it no longer counts). Few, because every frame in the pipe when a sign-out comes
// is decided too: four spoofed frames in flight could add up to an escalation to block.
const MAX_AWAITING = 2;
const AWAIT_MS = 15000;
const PROBLEM_SHOWN_MS = 10000;
const STREAM_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;

const $ = (id) => document.getElementById(id);
const view = {
  state: $("state"), detail: $("detail"), problem: $("problem"), counts: $("counts"),
  who: $("who"), form: $("signin"), video: $("camera"), canvas: $("preview"), cover: $("cover"),
  coverTitle: $("cover-title"), coverReason: $("cover-reason"), coverCode: $("cover-code"),
  coverNext: $("cover-next"), again: $("again"),
};
const challengePanel = new ChallengePanel($("challenge"));

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
    this.awaiting = new Map(); // seq -> when it was sent
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
      case "decision":
        if (message.challenge) challengePanel.update(message.challenge);
        return this.onDecision(message);
      case "challenge": return challengePanel.ask(message);
      case "status": return this.onStatus(message);
      case "error": return showProblem(errorWords(message.code, message.message));
      default: console.warn("unknown server message", message);
    }
  }

  onWelcome(message) {
    this.attempt = 0;
    this.sessionId = message.session_id;
    this.maxBytes = message.max_frame_bytes;
    const fps = Math.min(this.credentials.fps, message.max_fps);
    show("checking", `Sending ${fps} frame${fps === 1 ? "" : "s"} a second.`);
    this.timer = setInterval(() => this.sendFrame(), 1000 / fps);
  }

  async sendFrame() {
    const ws = this.ws;
    // Skip a tick rather than queue: the last frame is still going out or being encoded, or
    // enough frames wait for a decision.
    if (this.paused || this.encoding || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount ||
        this.waitingFrames() >= MAX_AWAITING) {
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
      this.awaiting.set(this.seq, Date.now());
      this.sent += 1;
      this.showCounts();
    } finally {
      this.encoding = false;
    }
  }

  // Frames sent and still expected to get a decision.
  waitingFrames() {
    const now = Date.now();
    for (const [seq, sentAt] of this.awaiting) {
      if (now - sentAt > AWAIT_MS) this.awaiting.delete(seq);
    }
    return this.awaiting.size;
  }

  onDecision(message) {
    // A lock, sign-out or block decided for a frame of this client's previous connection is
    // still about the person at the keyboard; the server sends no allow of another session.
    const earlier = message.session_id !== undefined && message.session_id !== this.sessionId;
    if (!earlier) this.awaiting.delete(message.seq);
    this.decided += 1;
    this.showCounts();
    // A frame sent before a pause or block, or an older frame's answer: the state moved on.
    if (this.paused || this.final || (earlier && message.action === "allow")) return;
    if (!earlier) {
      if (message.seq < this.lastDecided) return;
      this.lastDecided = message.seq;
    }
    const cover = { reason: decisionWords(message, earlier), code: message.reason };
    switch (message.action) {
      case "allow": return show("allowed", watching(message));
      case "lock_screen":
        return show(lockState(message), "", { ...cover, next: unlockWords(message) });
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
      const why = message.reason ? `: ${message.reason}` : "";
      show("paused", `An operator paused checking${why}. No frames are sent.`);
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
    const words = closeWords(event.code, event.reason);
    const blocked = event.code === 1008 && event.reason.startsWith("blocked");
    // Signed out or blocked already: the cover says so (unless a block follows a sign-out).
    if (this.final && !blocked) return;
    if (event.code === 1008) {
      this.final = true;
      if (blocked) return show("blocked", "", { reason: words, code: "blocked" });
      show("refused", words);
      // Let the person correct the client id or token; nothing is retried until then.
      return askCredentials(this.credentials.clientId).then((credentials) => {
        this.credentials = { ...credentials, fps: this.credentials.fps };
        view.who.textContent = `Client ${credentials.clientId}`;
        this.connect();
      });
    }
    if (event.code === 1009) this.quality = Math.max(0.3, this.quality - 0.2);
    // Backoff with jitter, so many pages do not all come back at the same moment.
    const step = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = step * (0.75 + Math.random() / 2);
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

// A problem that does not end the session, shown for a while.
function showProblem(words) {
  view.problem.textContent = words;
  clearTimeout(showProblem.timer);
  showProblem.timer = setTimeout(() => { view.problem.textContent = ""; }, PROBLEM_SHOWN_MS);
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
  const fps = Number(params.get("fps"));
  return { clientId, token, fps: fps > 0 ? fps : DEFAULT_FPS };
}

// The form's credentials once submitted (the client id may be filled in already).
function askCredentials(clientId = "") {
  view.form.hidden = false;
  view.form.elements.client_id.value = clientId;
  view.form.elements.token.value = "";
  return new Promise((resolve) => {
    view.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(view.form);
      view.form.hidden = true;
      resolve({
        clientId: String(data.get("client_id")).trim(), token: String(data.get("token")),
        fps: DEFAULT_FPS,
      });
    }, { once: true });
  });
}

async function main() {
  let credentials = credentialsFromFragment();
  if (credentials === null) {
    show("signin", "Enter the client id and token an operator gave you.");
    credentials = await askCredentials();
  }
  show("camera");
  try {
    await openCamera(view.video);
  } catch (error) {
    show("camera_problem", cameraWords(error));
    return;
  }
  view.who.textContent = `Client ${credentials.clientId}`;
  const session = new Session(credentials);
  view.again.addEventListener("click", () => session.connect());
  session.connect();
}

main();
