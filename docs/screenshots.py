"""Screenshots of the review page's views, made from a fresh demo store so that they can be
refreshed whenever the page changes: `make screenshots` writes docs/screenshots/*.png.

Needs Debian's chromium (.ci/browser-deps installs it).
"""

import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.server import running_server  # noqa: E402

OUT = Path(__file__).resolve().parent / "screenshots"
VIEWS = {"inbox": "/", "transcript": None, "flags": "/flags", "annotations": "/annotations",
         "dashboard": "/dashboard?window=30d"}


def main():
    work = Path(tempfile.mkdtemp(prefix="screenshots-"))
    try:
        with running_server("--demo", cwd=work) as (base, _):
            flagged = httpx.get(f"{base}/core/flags", params={"limit": 1}).json()[0]["sender_id"]
            VIEWS["transcript"] = f"/conversations/{flagged}"
            OUT.mkdir(exist_ok=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                     args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for name, path in VIEWS.items():
                    page.goto(f"{base}{path}")
                    page.wait_for_selector("main h1")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=OUT / f"{name}.png")
                    print(OUT / f"{name}.png")
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
