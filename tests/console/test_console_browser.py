"""The console in headless Chromium (Debian's, driven by Playwright): what an auditor does.

Screenshots go to ``test-output/console/`` (git-ignored).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinks.audit_log import verify
from tests.chromium import ARGS, CHROMIUM, needs_chromium
from tests.conftest import REPO
from tests.console.conftest import ConsoleUnderTest

SHOTS = REPO / "test-output" / "console"

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=ARGS)
        yield chromium
        chromium.close()


def test_an_auditor_finds_sees_verifies_and_exports(browser: object,
                                                    console_app: ConsoleUnderTest) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(15_000)

    # A wrong credential is refused.
    page.goto(console_app.url + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Credential").fill("guessed-" + console_app.auditor[:8])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Name or credential not accepted.")
    page.screenshot(path=SHOTS / "1-refused-login.png")

    page.get_by_label("Name").fill("ann")
    page.get_by_label("Credential").fill(console_app.auditor)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Decisions")).to_be_visible()

    # Find bob's wrong_user decision with the filters, and open it.
    page.get_by_label("Client").fill("bob")
    page.get_by_label("Reason").select_option("wrong_user")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("1 matching decision(s)")).to_be_visible()
    page.screenshot(path=SHOTS / "2-decisions-filtered.png", full_page=True)
    page.get_by_role("link", name="4").click()
    expect(page.get_by_role("heading", name="Decision on line 4")).to_be_visible()

    # Its evidence is shown (decrypted on the server), and the view is in the audit log.
    image = page.get_by_role("img", name="evidence frame f-wrong-4")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('img.evidence').naturalWidth === 640")
    page.screenshot(path=SHOTS / "3-decision-evidence.png", full_page=True)
    viewed = json.loads(console_app.audit_log.read_bytes().splitlines()[-1])
    assert viewed["type"] == "access"
    assert viewed["event"] | {"remote": "-"} == {
        "access": "view", "by": "ann", "role": "auditor", "client_id": "bob",
        "frame_id": "f-wrong-4", "decision_seq": 4, "remote": "-"}

    # The chain verifies, the view line included.
    page.get_by_role("link", name="Verify the chain").click()
    expect(page.get_by_text("The audit log is intact: 6 lines verified; last good "
                            "checkpoint: line 5")).to_be_visible()
    page.screenshot(path=SHOTS / "4-verified.png")

    # Export the case: one zip with the evidence, the decision, the lines, the verification.
    page.go_back()
    expect(page.get_by_role("cell", name="view")).to_be_visible()  # who has seen it
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export case").click()
    download = download_info.value
    assert download.suggested_filename == "case-bob-f-wrong-4.zip"
    saved = SHOTS / download.suggested_filename
    download.save_as(saved)
    check_case(saved, console_app)

    # An auditor cannot reach an operator route.
    refused = page.goto(console_app.url + "/operator")
    assert refused is not None and refused.status == 403
    expect(page.get_by_text("this page is for operators")).to_be_visible()
    page.screenshot(path=SHOTS / "5-operator-route-refused.png")
    assert verify(console_app.audit_log).ok


def check_case(path: Path, app: ConsoleUnderTest) -> None:
    with zipfile.ZipFile(path) as case:
        names = set(case.namelist())
        assert names == {"README.txt", "decision.json", "evidence.json", "evidence.jpg",
                         "audit-lines.jsonl", "verification.json", "timeline.svg",
                         "timeline.json"}
        assert case.read("evidence.jpg") == app.jpegs["f-wrong-4"]
        decision = json.loads(case.read("decision.json"))
        assert (decision["frame_id"], decision["reason"]) == ("f-wrong-4", "wrong_user")
        lines = [json.loads(raw) for raw in io.BytesIO(case.read("audit-lines.jsonl"))]
        verification = json.loads(case.read("verification.json"))
    # bob's lines within 15 minutes: his decision, the view and the export (not f-noface-5,
    # decided 87 minutes later); each is byte-identical to its line in the log.
    assert [(line["seq"], line["type"]) for line in lines] == [
        (4, "decision"), (6, "access"), (7, "access")]
    assert [line["event"].get("access") for line in lines[1:]] == ["view", "export"]
    log_lines = app.audit_log.read_bytes().splitlines()
    for line in lines:
        assert json.loads(log_lines[line["seq"] - 1]) == line
    assert (verification["ok"], verification["lines"]) == (True, 7)
