// Step-up challenges on the page: the server's `challenge` message asks the person to turn
// their head (left and right are the person's own, which is also the screen's side as they
// face it); decisions then carry the challenge's progress and result. The panel sits above
// the lock cover, since the screen stays locked while the challenge runs.

const ARROWS = { turn_left: "←", turn_right: "→" };
const WORDS = { turn_left: "Turn your head to your left, then back", turn_right: "Turn your head to your right, then back" };
const RESULTS = {
  passed: "Thank you: the check passed.",
  failed: "The check failed: the face moved as a flat picture does, or another person answered.",
  expired: "The check was not answered in time.",
};
const RESULT_SHOWN_MS = 6000;

export class ChallengePanel {
  constructor(root) {
    this.root = root;
    this.arrow = root.querySelector("#challenge-arrow");
    this.words = root.querySelector("#challenge-words");
    this.countdown = root.querySelector("#challenge-countdown");
    this.bar = root.querySelector("#challenge-progress");
    this.id = null;
    this.timer = null;
  }

  // The server asks: show what to do and count down from the time given.
  ask(message) {
    this.id = message.id;
    this.deadline = Date.now() + message.deadline_ms;
    this.arrow.textContent = ARROWS[message.action] ?? "?";
    this.words.textContent = WORDS[message.action] ?? `Do this: ${message.action}`;
    this.bar.value = 0;
    this.show("pending");
    clearInterval(this.timer);
    this.tick();
    this.timer = setInterval(() => this.tick(), 250);
  }

  tick() {
    const left = Math.max(0, this.deadline - Date.now());
    this.countdown.textContent = `${Math.ceil(left / 1000)} s left`;
    if (left === 0) clearInterval(this.timer);
  }

  // A decision's `challenge` field: progress while pending, then the result.
  update(challenge) {
    if (challenge.id !== this.id) return; // an older challenge's late decision
    this.bar.value = challenge.progress;
    if (challenge.state === "pending") {
      if (challenge.progress >= 0.5) this.words.textContent = "Now back to the screen";
      return;
    }
    clearInterval(this.timer);
    this.arrow.textContent = challenge.state === "passed" ? "✓" : "✗";
    this.words.textContent = RESULTS[challenge.state] ?? challenge.state;
    this.countdown.textContent = "";
    this.show(challenge.state);
    const id = this.id;
    setTimeout(() => { if (this.id === id) this.hide(); }, RESULT_SHOWN_MS);
  }

  show(state) {
    document.body.dataset.challenge = state;
    this.root.dataset.state = state;
    this.root.hidden = false;
  }

  hide() {
    this.root.hidden = true;
    delete document.body.dataset.challenge;
  }
}
