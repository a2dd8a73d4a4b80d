"""The browser tests' Chromium: one per fake camera video (tests/browser/fake_camera.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.fake_camera import launch_args, write_y4m
from tests.chromium import CHROMIUM
from tests.conftest import require_testdata

BrowserFor = Callable[[str], Browser]


@pytest.fixture(scope="module")
def browser_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserFor]:
    """A Chromium per camera picture (its fake camera is fixed at launch), closed at the end;
    a path ending in .y4m is played as it is."""
    testdata = require_testdata()
    folder = tmp_path_factory.mktemp("camera")
    browsers: dict[str, Browser] = {}
    with sync_playwright() as playwright:
        def launch(image: str) -> Browser:
            if image not in browsers:
                video = (Path(image) if image.endswith(".y4m")
                         else write_y4m(testdata / image, folder / f"{Path(image).stem}.y4m"))
                browsers[image] = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=launch_args(video))
            return browsers[image]

        yield launch
        for browser in browsers.values():
            browser.close()
