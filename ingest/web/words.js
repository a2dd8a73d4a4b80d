// Protocol v1's codes in words a person can act on (ARCHITECTURE.md, "ingest/").

// What the page says for each of its states.
export const STATE_WORDS = {
  starting: "Starting…",
  signin: "Sign in",
  camera: "Asking for the camera…",
  connecting: "Connecting…",
  queued: "Waiting for a free place",
  checking: "Connected — checking…",
  allowed: "Allowed",
  locked: "Screen locked",
  verifying: "Verifying…",
  poor_picture: "Camera picture too poor",
  signed_out: "Signed out",
  blocked: "Blocked",
  paused: "Paused",
  reconnecting: "Reconnecting…",
  refused: "Refused",
  camera_problem: "Camera problem",
};

// Decision reasons.
const REASONS = {
  ok: "The enrolled user is in view.",
  no_face: "No face is in view of the camera.",
  spoof: "The face does not look live: it may be a photo or a screen.",
  wrong_user: "The face in view is not the enrolled user.",
  phone: "A mobile phone is in view of the camera.",
  multiple_faces: "More than one face is in view of the camera.",
  incomplete: "The server could not check this frame in time.",
  bad_frame: "The server could not read the camera picture.",
  stale: "The picture was too old to check when it reached the server.",
  poor_quality: "The camera picture is too poor to check the face.",
  verifying: "Verifying that the face in view is live: keep looking at the camera.",
  challenge_timeout: "The head-turn check was not answered in time.",
};

// What to do about each quality issue of a poor_quality decision (decision.issues).
const ISSUES = {
  dark: "More light, please: the face is too dark.",
  bright: "Less light, please: the face is over-exposed (a lamp or window behind or on it).",
  blurred: "Hold still and clean the camera lens: the picture is blurred.",
  small: "Come closer to the camera: the face is too small.",
  large: "Move back from the camera: the face fills the picture.",
};

export function issueWords(issue) {
  return ISSUES[issue] ?? `The picture has a problem: “${issue}”.`;
}

export function reasonWords(reason) {
  return REASONS[reason] ?? `The server gave the reason “${reason}”.`;
}

// Whether a lock only waits for more evidence: the frame was fine, but the policy wants
// several live frames in a session before it allows (scores live_frames, live_frames_needed).
export function waitsForLiveFrames(decision) {
  return decision.reason === "ok" && decision.scores?.live_frames_needed !== undefined;
}

// The page's state for a lock: a doubtful face is being verified, a poor picture needs a
// fix by the user, anything else is a plain lock.
export function lockState(decision) {
  if (decision.reason === "verifying") return "verifying";
  if (decision.reason === "poor_quality") return "poor_picture";
  return "locked";
}

// What unlocks a locked screen, in words.
export function unlockWords(decision) {
  if (waitsForLiveFrames(decision)) return "It unlocks by itself once enough live frames are seen.";
  if (decision.reason === "verifying") return "It unlocks by itself once the face is judged live.";
  if (decision.reason === "poor_quality") return "It unlocks by itself once the picture is good enough.";
  return "It unlocks when the enrolled user is in view again.";
}

// A decision that is not `allow`, in words.
export function decisionWords(decision, earlier) {
  const { live_frames: seen, live_frames_needed: needed } = decision.scores ?? {};
  let words = waitsForLiveFrames(decision)
    ? `Checking that the face in view is live: ${seen} of ${needed} live frames so far.`
    : reasonWords(decision.reason);
  if (decision.issues?.length) words += ` ${decision.issues.map(issueWords).join(" ")}`;
  return earlier ? `${words} (Seen during this client's previous connection.)` : words;
}

// Close reasons of 1008 that the server sends (ingest/auth.py, ingest/gateway.py).
const REFUSALS = {
  "unknown client or bad token": "The client id or its token is not accepted. Check both, or ask an operator for a new token.",
  "client is not enrolled": "This client has no enrolled face yet. Ask an operator to enroll you.",
  "too many failures": "Too many failed sign-ins from this address. Wait a minute, then try again.",
  "replaced by a newer session": "This client was opened somewhere else (another tab or device).",
  "token revoked": "Your token was revoked. Ask an operator for a new token.",
  "session expired: sign in again": "This session reached its longest allowed time. Sign in again.",
  "token replaced: sign in with the new token": "A new token was issued for this client. Sign in with the new token.",
};

// A closed connection, in words. The browser hides the HTTP status of a refused handshake
// (403 wrong origin, 429 too many connections): those arrive as 1006.
export function closeWords(code, reason) {
  switch (code) {
    case 1000: return "The connection was closed.";
    case 1001: return "The server is restarting.";
    case 1002: return `The server did not understand this page (${reason || "protocol error"}).`;
    case 1006: return "Could not reach the server, or it refused the connection (too many " +
      "connections from this address, or a page address it does not allow).";
    case 1008:
      if (reason.startsWith("blocked")) return blockedWords(reason.replace(/^blocked:?\s*/, ""));
      return REFUSALS[reason] ?? `The server refused this client: ${reason || "no reason given"}.`;
    case 1009: return "A camera picture was too large for the server.";
    case 1011: return "The server met an internal error.";
    case 1013: return reason === "capacity withdrawn"
      ? "The server lost capacity and had to let this client go."
      : "The server is full right now.";
    default: return `The connection closed (code ${code}${reason ? `: ${reason}` : ""}).`;
  }
}

export function blockedWords(reason) {
  const why = reason ? `: ${reason}` : "";
  return `An operator blocked this client${why}. Ask an operator to unblock it.`;
}

// Error messages that do not end the session.
const ERRORS = {
  rate_limited: "Some pictures were dropped: the page sends faster than the server takes them.",
  bad_image: "A picture was not a JPEG image.",
  bad_message: "The server could not read a message from this page.",
  unknown_message: "The server did not know a message from this page.",
  delivery_failed: "The server could not store a picture; the next ones are sent as usual.",
};

export function errorWords(code, message) {
  return `${ERRORS[code] ?? "The server reported a problem."} (${code}: ${message})`;
}

// getUserMedia failures.
export function cameraWords(error) {
  if (!window.isSecureContext) {
    return "The camera needs a secure page: open it over https:// (the gateway's tls_cert " +
      "and tls_key settings) or on localhost.";
  }
  switch (error?.name) {
    case "NotAllowedError":
      return "Camera access was refused. Allow the camera for this page, then reload.";
    case "NotFoundError": return "No camera was found. Connect a camera, then reload.";
    case "NotReadableError":
      return "The camera is in use by another program. Close it, then reload.";
    default: return `The camera could not start: ${error?.message ?? error}.`;
  }
}
