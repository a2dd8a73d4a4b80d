"""The browser client in Debian's Chromium, against the whole stack.

Chromium's camera is a y4m made from a test image (tests/browser/fake_camera.py); the page
comes from the shared `vigil up`'s gateway, or from the gateway that joins it over https://
and wss:// (tests/stack.py). Each state the page reaches is screenshotted into
test-output/browser/ (ignored by git).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, WebSocket

from tests.browser.conftest import BrowserFor
from tests.chromium import needs_chromium
from tests.conftest import REPO
from tests.stack import Running, TlsGateway

pytestmark = [pytest.mark.integration, pytest.mark.browser, needs_chromium]

SHOTS = REPO / "test-output" / "browser"
STATE_TIMEOUT_MS = 60_000
VIEWPORT: ViewportSize = {"width": 960, "height": 760}


@contextmanager
def new_page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own; closing the context ends the page's session."""
    # The TLS gateway's certificate is self-signed: this browser is told to accept it.
    context = browser.new_context(permissions=["camera"], ignore_https_errors=True,
                                  viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_client(page: Page, running: Running, client_id: str, token: str | None = None,
                page_url: str | None = None) -> None:
    """The browser client's page, given its credentials in the URL fragment."""
    page.goto(f"{page_url or running.page_url}#client_id={client_id}"
              f"&token={token or running.tokens[client_id]}")


def wait_for_state(page: Page, state: str) -> None:
    page.wait_for_selector(f"body[data-state={state}]", timeout=STATE_TIMEOUT_MS)


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")


def test_the_enrolled_face_is_allowed_over_https_and_wss(
        running: Running, tls_gateway: TlsGateway, browser_for: BrowserFor) -> None:
    with new_page(browser_for("faces/obama_3.jpg")) as page:
        sockets: list[WebSocket] = []
        page.on("websocket", lambda socket: sockets.append(socket))
        open_client(page, running, "carol", page_url=tls_gateway.page_url)
        # The shipped policy holds the screen locked until three live frames were seen.
        wait_for_state(page, "allowed")
        assert page.inner_text("#state") == "Allowed"
        assert page.is_hidden("#cover") and page.is_hidden("#signin")
        assert page.inner_text("#who") == "Client carol"
        assert [socket.url for socket in sockets] == [tls_gateway.url]
        # The token left the address bar (and the history) once read.
        assert page.url == tls_gateway.page_url
        screenshot(page, "allowed")


def test_the_page_reconnects_when_its_gateway_dies(running: Running,
                                                   browser_for: BrowserFor) -> None:
    with new_page(browser_for("faces/obama_3.jpg")) as page:
        open_client(page, running, "carol")
        wait_for_state(page, "allowed")
        # `vigil up` restarts the gateway: the page says what happened, retries, and is back.
        pid_file = Path(running.env["VIGIL_STATE_DIR"]) / "run" / "gateway.pid"
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        wait_for_state(page, "reconnecting")
        assert "Trying again in" in page.inner_text("#detail")
        screenshot(page, "reconnecting")
        wait_for_state(page, "allowed")


def test_another_face_locks_the_screen_with_wrong_user(running: Running,
                                                       browser_for: BrowserFor) -> None:
    with new_page(browser_for("faces/biden_1.jpg")) as page:
        open_client(page, running, "mallory")
        # Locked for this reason (under load a late half can lock it as `incomplete` first).
        page.wait_for_selector("body[data-state=locked] #cover-code:text-is('wrong_user')",
                               timeout=STATE_TIMEOUT_MS)
        assert "not the enrolled user" in page.inner_text("#cover-reason")
        box = page.locator("#cover").bounding_box()
        assert box is not None and (box["width"], box["height"]) == (
            VIEWPORT["width"], VIEWPORT["height"]), "the lock covers the whole page"
        screenshot(page, "locked-wrong-user")


def test_a_photo_on_a_screen_signs_out(running: Running, browser_for: BrowserFor) -> None:
    with new_page(browser_for("spoof/image_F2.jpg")) as page:
        open_client(page, running, "faker")
        wait_for_state(page, "signed_out")
        assert page.inner_text("#cover-code") == "spoof"
        assert "does not look live" in page.inner_text("#cover-reason")
        assert page.is_visible("#again")
        screenshot(page, "signed-out")


def test_the_form_and_a_refused_token_said_in_words_not_retried(
        running: Running, browser_for: BrowserFor) -> None:
    with new_page(browser_for("faces/obama_3.jpg")) as page:
        sockets: list[WebSocket] = []
        page.on("websocket", lambda socket: sockets.append(socket))
        page.goto(running.page_url)  # no credentials in the fragment: the form asks
        wait_for_state(page, "signin")
        page.fill("input[name=client_id]", "carol")
        page.fill("input[name=token]", "not-the-token")
        page.click("button[type=submit]")
        wait_for_state(page, "refused")
        assert "token is not accepted" in page.inner_text("#detail")
        page.wait_for_timeout(2500)  # longer than the first backoff step
        assert page.get_attribute("body", "data-state") == "refused"
        assert len(sockets) == 1, "a refusal that retrying cannot fix is not retried"
        # Instead the form is back, the client id kept, for a corrected token.
        assert page.is_visible("#signin")
        assert page.input_value("input[name=client_id]") == "carol"
        screenshot(page, "refused")


def test_pause_resume_and_block_reach_the_page(running: Running,
                                               browser_for: BrowserFor) -> None:
    with new_page(browser_for("faces/obama_3.jpg")) as page:
        open_client(page, running, "mallory")
        wait_for_state(page, "allowed")  # after any lock left from the test above
        running.vigil("clients", "pause", "mallory", "--reason", "maintenance window")
        wait_for_state(page, "paused")
        assert "maintenance window" in page.inner_text("#detail")
        screenshot(page, "paused")

        running.vigil("clients", "resume", "mallory")
        wait_for_state(page, "allowed")

        running.vigil("clients", "block", "mallory", "--reason", "laptop reported stolen")
        wait_for_state(page, "blocked")
        assert "laptop reported stolen" in page.inner_text("#cover-reason")
        screenshot(page, "blocked")

        # Coming back later: refused at hello, and the page says blocked, not just "refused".
        again = page.context.new_page()
        open_client(again, running, "mallory")
        wait_for_state(again, "blocked")
        assert "laptop reported stolen" in again.inner_text("#cover-reason")
