"""Sobriety report, corpus discovery and the crash-safe manifest helpers (issue 4); no model needed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from summarize import sobriety
from summarize.batch import append_row, read_manifest, repair_journal
from summarize.batch.corpus import discover, safe_name


# -- sobriety -------------------------------------------------------------------

def test_energy_formula_and_default_watts(monkeypatch):
    assert sobriety.DEFAULT_WATTS == 20.0
    # 2 cores busy for an hour each = the whole package busy for an hour at 20 W.
    assert sobriety.energy_wh(7200, 20, 2) == pytest.approx(20.0)
    monkeypatch.setenv("SUMMARIZE_WATTS", "45")
    assert sobriety.default_watts() == 45.0
    monkeypatch.setenv("SUMMARIZE_WATTS", "n'importe quoi")
    assert sobriety.default_watts() == 20.0


def test_meter_counts_spent_and_saved():
    meter = sobriety.Meter(watts=36)
    meter.add_computed(1000, 100)
    meter.add_cached(500, 50, seconds=100.0)
    meter.add_error()
    sum(i * i for i in range(200_000))  # burn a little CPU so cpu_seconds > 0
    report = meter.report().as_dict()
    assert (report["documents"], report["ok"], report["cached"], report["errors"]) == (3, 1, 1, 1)
    assert (report["tokens_in"], report["tokens_out"]) == (1000, 100)
    assert report["saved"] == {"documents": 1, "tokens_in": 500, "tokens_out": 50, "seconds": 100.0,
                               "energy_wh": pytest.approx(1.0)}
    assert report["cpu_seconds"] > 0 and report["energy_wh"] > 0 and report["watts"] == 36
    # With the first computation's CPU time known, the saving is priced like the spending.
    meter.add_cached(10, 1, seconds=500.0, cpu_s=7200.0)
    assert meter.report().saved.energy_wh == pytest.approx(1.0 + 36 * 7200 / meter.cores / 3600)
    assert 1 <= report["cores"] <= (os.cpu_count() or 1)
    json.dumps(report)  # the JSON report is serializable as is


def test_rapl_counters_are_read_where_present(tmp_path):
    assert sobriety.rapl_microjoules(tmp_path) is None
    for zone, value in (("intel-rapl:0", "1000000"), ("intel-rapl:1", "500"), ("intel-rapl:0:0", "999")):
        (tmp_path / zone).mkdir()
        (tmp_path / zone / "energy_uj").write_text(value)
    assert sobriety.rapl_microjoules(tmp_path) == 1_000_500  # packages only, not their sub-zones


# -- discovery and names --------------------------------------------------------

def _tree(root: Path) -> None:
    for rel in ("b.txt", "a.md", "sub/z.html", "sub/deeper/c.pdf", ".hidden.txt", ".git/config", "Éé/été.txt"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")


def test_discovery_is_recursive_sorted_and_skips_hidden_and_out(tmp_path):
    corpus = tmp_path / "corpus"
    _tree(corpus)
    (corpus / "out").mkdir()
    (corpus / "out" / "old.md").write_text("x")
    items = discover([str(corpus)], exclude=[corpus / "out"])
    rels = [i.rel for i in items]
    assert rels == ["a.md", "b.txt", "sub/deeper/c.pdf", "sub/z.html", "Éé/été.txt"]
    assert items[0].path == os.path.join(str(corpus), "a.md")
    assert [i.output for i in items][-1] == "Ee__ete.txt.md"
    assert discover([str(corpus)], exclude=[corpus / "out"]) == items  # deterministic


def test_globs_files_duplicates_and_missing(tmp_path):
    corpus = tmp_path / "c"
    _tree(corpus)
    items = discover([str(corpus / "**" / "*.txt"), str(corpus / "b.txt"), str(corpus / "nope-*.pdf"),
                      str(corpus / "absent.txt")])
    paths = [i.path for i in items]
    assert paths[:2] == [str(corpus / "b.txt"), str(corpus / "Éé" / "été.txt")]  # b.txt only once
    assert items[2].error == "no file matches this pattern"
    assert items[3].path.endswith("absent.txt") and items[3].error is None  # the reader reports it


def test_symlinks_to_folders_are_followed_but_loops_reported(tmp_path):
    corpus = tmp_path / "c"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "doc.txt").write_text("x")
    (corpus / "sub" / "retour").symlink_to(corpus)  # loop
    (corpus / "alias").symlink_to(corpus / "sub")  # second way to the same folder
    (corpus / "self.txt").symlink_to(corpus / "self.txt")
    items = discover([str(corpus)])
    by_rel = {i.rel: i for i in items}
    assert by_rel["sub/retour"].error.startswith("symlink loop")
    assert "self.txt" in by_rel  # a file-level loop: the reader gives its error
    assert sum(i.rel.endswith("doc.txt") for i in items) == 1


@pytest.mark.parametrize("rel", ["../../etc/passwd", "/abs/path.txt", "..", "a/../../b.txt", ".bashrc",
                                 "x" * 400 + ".txt", "nom avec espaces & «guillemets».txt", "\\..\\win.txt"])
def test_output_names_cannot_escape(rel):
    name = safe_name(rel)
    assert "/" not in name and "\\" not in name and not name.startswith(".") and name.endswith(".md")
    assert len(name.encode()) < 255 and name not in (".md", "..md")


def test_colliding_names_get_a_stable_suffix(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "Note.txt").write_text("x")
    (tmp_path / "b" / "note.TXT").write_text("x")
    (tmp_path / "a" / "synthese").write_text("x")
    items = discover([str(tmp_path / "a"), str(tmp_path / "b")])
    names = [i.output for i in items]
    assert len({n.lower() for n in names}) == len(names)
    assert names[0] == "Note.txt.md" and "synthese.md" not in names
    assert names == [i.output for i in discover([str(tmp_path / "a"), str(tmp_path / "b")])]


# -- manifest journal -----------------------------------------------------------

def test_partial_last_line_is_cut_and_ignored(tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    append_row(manifest, {"path": "a.txt", "status": "ok"})
    append_row(manifest, {"path": "b.txt", "status": "error"})
    with open(manifest, "ab") as fh:
        fh.write(b'{"path": "c.txt", "sta')  # what a SIGKILL mid-write leaves
    assert [r["path"] for r in read_manifest(manifest)] == ["a.txt", "b.txt"]
    assert repair_journal(manifest) == len(b'{"path": "c.txt", "sta')
    append_row(manifest, {"path": "b.txt", "status": "ok"})
    rows = read_manifest(manifest)
    assert [(r["path"], r["status"]) for r in rows] == [("a.txt", "ok"), ("b.txt", "ok")]  # last row wins
    assert all(json.loads(line) for line in manifest.read_text().splitlines())
    assert repair_journal(manifest) == 0 and repair_journal(tmp_path / "absent.jsonl") == 0
