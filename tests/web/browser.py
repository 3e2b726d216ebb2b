"""Launching a system Chromium or Chrome under Playwright: Debian's chromium, the runner's
google-chrome, or the build `playwright install chromium` put where $CHROMIUM says."""

from __future__ import annotations

import os
import shutil

from playwright.sync_api import Browser, Playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


BROWSERS = ("chromium", "google-chrome-stable", "google-chrome")


def chromium_path() -> str:
    """$CHROMIUM (./dev sets it), else the first of BROWSERS on the PATH that is not a snap.

    Debian's `chromium` is a real browser and GitHub's Ubuntu images have `google-chrome`; Ubuntu's apt
    `chromium` is a shim for a snap, which Playwright cannot drive. Fails with what to install.
    """
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in BROWSERS:
        path = shutil.which(name)
        if path and not _is_snap(path):
            return path
    raise RuntimeError(
        "Chromium not found: apt-get install chromium on Debian, or python -m playwright install chromium, "
        "and set CHROMIUM to its path (./dev test finds it)"
    )


def _is_snap(path: str) -> bool:
    target = os.path.realpath(path)
    return target.startswith("/snap/") or target.endswith("/snap")


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
