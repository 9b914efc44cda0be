"""Screenshots of the review page's views, made from a fresh demo store so that they can be
refreshed whenever the page changes: `make screenshots` writes docs/screenshots/*.png.

Needs Debian's chromium (.ci/browser-deps installs it).
"""

import shutil
import sys
import tempfile
import urllib.parse
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
            # The transcript at a flagged message with its note (the README's picture).
            flag = next(f for f in httpx.get(f"{base}/core/flags").json() if f["note"])
            VIEWS["transcript"] = f"/conversations/{urllib.parse.quote(flag['sender_id'], safe='')}#t-{flag['timestamp']}"
            OUT.mkdir(exist_ok=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                     args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for width, suffix in ((1280, ""), (400, "-400px")):
                    page.set_viewport_size({"width": width, "height": 900})
                    for name, path in VIEWS.items() if not suffix else [("inbox", "/")]:
                        page.goto(f"{base}{path}")
                        page.wait_for_selector("main h1")
                        page.wait_for_load_state("networkidle")
                        page.screenshot(path=OUT / f"{name}{suffix}.png")
                        print(OUT / f"{name}{suffix}.png")
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
