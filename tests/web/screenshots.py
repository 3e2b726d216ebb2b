"""Screenshots of a real search for docs/screenshots/ (desktop and phone).

./dev demo &                                                   # the real server over the demo index
python -m tests.web.screenshots --base-url http://127.0.0.1:8000 --query "a big red circle"
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, sync_playwright

from tests.web.browser import DESKTOP, PHONE, launch

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shoot(browser: Browser, url: str, path: Path, *, phone: bool) -> None:
    options = (
        {"viewport": PHONE, "is_mobile": True, "device_scale_factor": 2} if phone else {"viewport": DESKTOP}
    )
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#status[data-state=results]")
    page.wait_for_load_state("networkidle")  # the thumbnails
    page.screenshot(path=path)
    context.close()
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="a running search server")
    parser.add_argument("--query", default="a dog running on the beach")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        url = f"{args.base_url.rstrip('/')}/?q={quote(args.query)}"
        shoot(browser, url, args.out / "search-desktop.png", phone=False)
        shoot(browser, url, args.out / "search-phone.png", phone=True)
        browser.close()


if __name__ == "__main__":
    main()
