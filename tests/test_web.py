"""Issue 21, acceptance 1: the page of `summarize serve`, driven in a real headless browser.

A real server (`summarize serve` in its own process, uvicorn on 127.0.0.1, a free port, the
embedded default model) and Debian's Chromium driven by Playwright (never a downloaded
browser). The page is used as a person would: pick a seed, watch the summary stream in,
compare it with the CLI's output for the same settings, cancel a long one and see the
server's CPU go idle, run a 3-file batch and download its results, reopen the history.
"""
from __future__ import annotations

import json
import re
import time
import zipfile

import psutil
import pytest
from playwright.sync_api import expect

from .conftest import LONG_SEED, SEEDS, SHORT_SEED, run_cli
from . import webserver

pytestmark = pytest.mark.slow
THREADS = webserver.threads()
BATCH = [SEEDS / "000_62be23b1862030f1.txt", SHORT_SEED, SEEDS / "003_61fb5dab3432a646.txt"]
RECORD_STREAM = """() => {
  window.__flux = [];
  const flux = document.getElementById('flux');
  new MutationObserver(() => window.__flux.push(flux.textContent.length))
    .observe(flux, {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = webserver.start(tmp_path_factory.mktemp("web"), "--threads", THREADS)
    yield srv
    private = srv.private()
    assert srv.stop() == 0, srv.log.read_text()
    assert not private.exists()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=webserver.CHROMIUM, headless=True,
            args=webserver.CHROMIUM_ARGS, accept_downloads=True, locale="fr-FR")
        yield context
        context.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server.url)  # the token is traded for the cookie, then the bare URL
    assert page.url == f"{server.base}/"
    yield page
    page.close()
    assert errors == []  # no script error, no refused resource (CSP) on the page


def run(page, files, length: str = "short") -> None:
    page.set_input_files("#fichiers", [str(f) for f in files])
    page.check(f"input[name=longueur][value={length}]")
    page.evaluate("() => delete document.body.dataset.fini")
    page.click("#lancer")


def wait_end(page, timeout_s: float) -> str:
    page.wait_for_selector("body[data-fini]", state="attached", timeout=timeout_s * 1000)
    return page.get_attribute("body", "data-fini")


def cpu_seconds(pid: int) -> float:
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return times.user + times.system + sum(t.user + t.system for t in (c.cpu_times() for c in proc.children()))


def test_a_seed_streams_in_and_equals_the_cli(page, server, tmp_path):
    page.evaluate(RECORD_STREAM)
    run(page, [SHORT_SEED])
    assert wait_end(page, 300) == "done", page.inner_text("#travail")
    lengths = page.evaluate("window.__flux")
    growing = [n for n in lengths if n > 0]
    assert len(set(growing)) >= 5, lengths  # the text arrived piece by piece, not at once
    assert growing == sorted(growing)
    assert page.is_hidden("#flux") and page.is_visible("#resume")  # the draft gave way to the final summary

    cli_env = {"SUMMARIZE_CACHE_DIR": str(tmp_path / "cli-cache")}
    text = run_cli(str(SHORT_SEED), "--length", "short", "--threads", THREADS, env=cli_env, timeout=600)
    assert text.returncode == 0, text.stderr
    shown = page.text_content("#brut")
    assert shown.strip() == text.stdout.strip()  # byte for byte what `summarize FILE` prints
    as_json = run_cli(str(SHORT_SEED), "--length", "short", "--threads", THREADS, "--format", "json", env=cli_env)
    result = json.loads(as_json.stdout)
    assert result["cache_hit"] is True  # the same key: the same settings
    assert page.get_attribute("#methode", "data-methode") == result["method"]
    phrases = [p.strip() for p in page.locator("#resume .phrase").all_text_contents()]
    assert phrases == [s["text"].strip() for s in result["sentences"]]

    ref = page.locator("#resume button.ref").first  # a reference opens its quoted passage
    ref.click()
    number = ref.text_content().strip("[]")
    quote = page.locator(f"#source-{number} details blockquote")
    assert page.locator(f"#source-{number} details").get_attribute("open") is not None
    assert quote.is_visible()
    passage = " ".join(quote.text_content().strip("« »").split())
    assert passage and passage in " ".join(SHORT_SEED.read_text(encoding="utf-8").split())

    own = psutil.Process(server.proc.pid).net_connections(kind="inet")
    assert own and all(c.laddr.port == server.port for c in own), own  # it listens and answers; nothing goes out


def test_cancel_really_stops_the_work(page, server):
    run(page, [LONG_SEED])
    # expect(), not wait_for_function: the page's Content-Security-Policy forbids evaluating strings
    expect(page.locator("#etat")).to_contain_text("partie", timeout=180_000)
    assert re.search(r"partie \d+ sur \d+", page.text_content("#etat"))
    before = cpu_seconds(server.proc.pid)
    page.wait_for_timeout(1000)
    busy = cpu_seconds(server.proc.pid) - before
    assert busy > 0.4, f"the model should be computing: {busy:.2f} CPU s in 1 s"
    clicked = time.monotonic()
    page.click("#annuler")
    assert wait_end(page, 30) == "cancelled"
    stopped_in = time.monotonic() - clicked
    assert stopped_in < 5, stopped_in
    assert "Annulé" in page.text_content("#etat")
    assert page.is_hidden("#resume")
    time.sleep(0.5)
    idle_from = cpu_seconds(server.proc.pid)
    time.sleep(2.0)
    idle = cpu_seconds(server.proc.pid) - idle_from
    assert idle < 0.2, f"the server kept computing after the cancel: {idle:.2f} CPU s in 2 s (before: {busy:.2f} in 1 s)"


def test_a_three_file_batch_and_its_download(page, server):
    run(page, BATCH)
    page.wait_for_selector("#documents tbody tr", timeout=60_000)
    assert page.locator("#documents tbody tr").count() == 3
    assert wait_end(page, 900) == "done", page.inner_text("#travail")
    statuses = [page.get_attribute(f"#documents tbody tr[data-index='{i}']", "data-statut") for i in range(3)]
    assert set(statuses) <= {"ok", "cached"} and len(statuses) == 3, statuses
    names = page.locator("#documents tbody tr td:first-child").all_text_contents()
    assert [n.split("résumé")[0] for n in names] == [f.name for f in BATCH]
    assert page.is_visible("#synthese") and page.text_content("#synthese-texte").strip()
    sobriety = page.text_content("#sobriete-lignes")
    assert "Secondes de CPU" in sobriety and "Wh" in sobriety and "Économisé par le cache" in sobriety
    assert "Lot terminé" in page.text_content("#etat")

    with page.expect_download() as download:
        page.click("#lien-lot")
    with zipfile.ZipFile(download.value.path()) as archive:
        files = set(archive.namelist())
        markdown = sorted(n for n in files if n.endswith(".txt.md"))
        assert markdown == sorted(f"resumes/{f.name}.md" for f in BATCH)
        assert {"resumes/manifest.jsonl", "resumes/sobriety.json", "resumes/synthese.md"} <= files
        rows = [json.loads(line) for line in archive.read("resumes/manifest.jsonl").decode().splitlines()]
        assert [r["status"] for r in rows] == statuses
        assert all(r["summary"] and r["method"] for r in rows)
        report = json.loads(archive.read("resumes/sobriety.json"))
        assert report["documents"] == 3 and report["model"] == "gemma3-270m"
        first = archive.read(markdown[0]).decode()
        assert first.startswith("---\nsource: ") and "method:" in first
    assert list(server.private().iterdir()) == []  # uploads and outputs went with the job


def test_history_comes_from_the_cache_and_a_fallback_is_never_shown_as_the_model(page, server):
    from summarize.cache import Cache

    cache = Cache(server.tmp.parent / "cache")
    cache.put("f" * 64, "document", "Première phrase copiée du document. Deuxième phrase copiée.",
              {"method": "extractive-fallback", "model": "gemma3-270m", "length": "short", "sentences": None})
    cache.close()
    page.reload()
    items = page.locator("#liste-historique button[data-cle]")
    assert items.count() >= 4  # the seed, the batch's documents, the planted fallback
    labels = items.all_text_contents()
    assert all(any(label.startswith(f.name + " · ") for label in labels) for f in BATCH)  # each file's name
    assert any(label.startswith("texte collé · ") for label in labels)  # the planted entry has none
    started = time.monotonic()
    page.locator(f"#liste-historique button[data-cle='{'f' * 64}']").click()
    page.wait_for_selector("#resume .phrase")
    assert time.monotonic() - started < 2  # no model: the cache answers
    method = page.text_content("#methode")
    assert page.get_attribute("#methode", "data-methode") == "extractive-fallback"
    assert "repli extractif" in method and "écrit par le modèle" not in method
    page.locator("#liste-historique button[data-cle]").last.click()
    expect(page.locator("#etat")).to_contain_text("Depuis le cache")
