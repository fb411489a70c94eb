"""A fast, deterministic backend for the Ray engine's fault tests, and the journal it keeps.

The fault tests (actor killed, node removed, driver killed, finished-job rerun) are about who
computes what and when, not about summaries: this backend answers in ``sleep`` seconds and
appends one line per event to a shared log file (O_APPEND writes, one line each), so the test
can count, across processes and nodes, how often each document was generated.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

# What every fake document says (write_fake_corpus), so the support guard (issue 20) keeps it.
SUMMARY = "Le conseil municipal a voté une délibération sur la commune."


def _log(path: str, *fields: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("\t".join(fields) + "\n").encode("utf-8"))
    finally:
        os.close(fd)


class FakeBackend:
    n_ctx_train, has_chat_template = 2048, True

    def __init__(self, log: str, sleep: float, kill_marker: str | None, kill_flag: str | None) -> None:
        self.log, self.sleep, self.kill_marker, self.kill_flag = log, sleep, kill_marker, kill_flag

    def count_text(self, text: str) -> int:
        return len(text.encode("utf-8", "replace")) // 3 + 1

    def count_prompt(self, prompt: Any) -> int:
        return self.count_text(_prompt_text(prompt))

    def generate(self, prompt: Any, settings: Any, on_text: Any = None) -> Any:
        from summarize.backends import Generation

        text = _prompt_text(prompt)
        doc = document_id(text)
        _log(self.log, "start", doc, str(os.getpid()))
        if self.kill_marker and self.kill_marker in text and self.kill_flag and not os.path.exists(self.kill_flag):
            Path(self.kill_flag).touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the actor dies in the middle of this document
        time.sleep(self.sleep)
        _log(self.log, "done", doc, str(os.getpid()))
        return Generation(text=SUMMARY, tokens_in=self.count_prompt(prompt), tokens_out=12, seconds=self.sleep,
                          finish="stop")

    def close(self) -> None:
        pass


class FakeFactory:
    """What the Ray engine calls once per actor (RayOptions.backend_factory): logs the 'model load'."""

    def __init__(self, log: Path, sleep: float = 0.0, kill_marker: str | None = None,
                 kill_flag: Path | None = None) -> None:
        self.log, self.sleep, self.kill_marker = str(log), sleep, kill_marker
        self.kill_flag = str(kill_flag) if kill_flag else None

    def __call__(self, ref: Any) -> FakeBackend:
        _log(self.log, "load", ref.name, str(os.getpid()))
        return FakeBackend(self.log, self.sleep, self.kill_marker, self.kill_flag)


def document_id(prompt_text: str) -> str:
    """The document's own marker (``DossierNNN``) found in the prompt, else a hash of the prompt."""
    found = re.findall(r"Dossier\d{3}", prompt_text)
    return found[-1] if found else hashlib.sha256(prompt_text.encode()).hexdigest()[:12]


def _prompt_text(prompt: Any) -> str:
    return (prompt.text or "") + " ".join(c for _, c in prompt.messages or ())


def events(log: Path) -> list[tuple[str, str, int]]:
    if not log.exists():
        return []
    return [(e, d, int(p)) for e, d, p in (line.split("\t") for line in log.read_text().splitlines())]


def generations(log: Path) -> Counter:
    """Finished generations per document (a generation cut by a kill is not one)."""
    return Counter(doc for event, doc, _ in events(log) if event == "done")


def loads(log: Path) -> list[int]:
    return [pid for event, _, pid in events(log) if event == "load"]


def write_fake_corpus(folder: Path, count: int) -> list[Path]:
    """Distinct short French documents, each with its own marker (what document_id finds)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"doc{i:03d}.txt"
        path.write_text(f"Le conseil municipal a voté la délibération Dossier{i:03d} sur la commune. "
                        "Les habitants en discuteront lors de la prochaine réunion publique.", encoding="utf-8")
        paths.append(path)
    return paths
