"""Make docs/serve.png: the page of `summarize serve` with a summary and an opened source.

    python docs/screenshot.py [OUT.png]

Starts a real server (embedded default model, a throwaway cache), summarizes the first seed
at short length in Debian's headless Chromium (Playwright, never a downloaded browser),
opens the first reference, and saves a full-page screenshot.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import webserver  # noqa: E402
from tests.conftest import SHORT_SEED  # noqa: E402


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as root:
        server = webserver.start(Path(root), "--threads", webserver.threads())
        try:
            with sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    str(Path(root) / "profile"), executable_path=webserver.CHROMIUM, headless=True,
                    args=webserver.CHROMIUM_ARGS, viewport={"width": 1100, "height": 900}, locale="fr-FR")
                page = context.new_page()
                page.goto(server.url)
                page.set_input_files("#fichiers", str(SHORT_SEED))
                page.check("input[name=longueur][value=short]")
                page.click("#lancer")
                page.wait_for_selector("body[data-fini='done']", state="attached", timeout=600_000)
                page.locator("#resume button.ref").first.click()
                page.wait_for_timeout(500)
                page.screenshot(path=str(out), full_page=True)
                context.close()
        finally:
            server.stop()
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "serve.png")
