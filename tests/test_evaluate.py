"""`summarize eval`: ROUGE scorers, the BARThez reference numbers, baselines, and a real
run of the default model on three short OrangeSum articles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarize import evaluate
from summarize.quality import rouge
from summarize.errors import DocumentError

from .conftest import DEV

MINI = Path(__file__).parent / "data" / "eval_mini.jsonl"
needs_dev = pytest.mark.skipif(not DEV.exists(), reason="shared/eval/orangesum/dev.jsonl not present")


def test_paper_tokenizer_splits_accents_unicode_keeps_them() -> None:
    # rouge-score keeps [a-z0-9] only: "café" and "caf" are the same word to it.
    scores = rouge.Rouge().score("Le café est fermé.", "Le caf est ferm.")
    assert scores["paper"]["rouge1"] == 1.0 and scores["unicode"]["rouge1"] == 0.5
    assert rouge.UnicodeTokenizer().tokenize("L'été à Zürich") == ["l", "été", "à", "zürich"]
    assert rouge.corpus([("a b c", "a b c")])["paper"] == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}


@needs_dev
def test_barthez_outputs_reproduce_the_paper_table() -> None:
    """Acceptance 1: 32.17 / 14.02 / 23.41 with the paper's scorer on the dev slice."""
    report = evaluate.evaluate(str(DEV), system_field="barthez")
    assert report.documents == 200
    assert report.rouge["paper"] == pytest.approx({"rouge1": 32.17, "rouge2": 14.02, "rougeL": 23.41}, abs=0.05)
    assert report.rouge["unicode"]["rouge1"] < report.rouge["paper"]["rouge1"]
    assert report.french_rate == 1.0 and report.methods == {"field": 200}


@needs_dev
def test_lead_baselines_are_computed_when_the_file_has_no_such_field() -> None:
    lead1 = evaluate.evaluate(str(DEV), system_field="lead-1", limit=50)
    lead45 = evaluate.evaluate(str(DEV), system_field="lead-45", limit=50)
    assert 15 < lead1.rouge["paper"]["rouge1"] < lead45.rouge["paper"]["rouge1"] < 35


def test_bad_files_fail_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "document": "x", "reference": "y"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DocumentError, match="line 2 is not JSON"):
        evaluate.read_jsonl(str(bad))
    bad.write_text('{"id": 1, "document": "x"}\n', encoding="utf-8")
    with pytest.raises(DocumentError, match="line 1 lacks .*reference"):
        evaluate.read_jsonl(str(bad))
    with pytest.raises(DocumentError, match="lacks .*barthez"):
        evaluate.read_jsonl(str(MINI), system_field="barthez_v2")


def test_field_scoring_through_the_cli(cli, tmp_path: Path) -> None:
    per_doc = tmp_path / "docs.jsonl"
    res = cli("eval", str(MINI), "--system-field", "reference", "--json", "-o", str(per_doc))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["rouge"]["paper"]["rouge1"] == 100.0 and report["documents"] == 3
    rows = [json.loads(line) for line in per_doc.read_text(encoding="utf-8").splitlines()]
    assert [r["method"] for r in rows] == ["field"] * 3


@pytest.mark.slow
def test_default_model_eval_records_methods(cli, tmp_path: Path) -> None:
    """A real run: every summary French, methods recorded per document and counted."""
    per_doc = tmp_path / "docs.jsonl"
    res = cli("eval", str(MINI), "--limit", "3", "--json", "--threads", "1", "-o", str(per_doc))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["system"] == "gemma3-270m" and report["length"] == "short"
    assert report["french_rate"] == 1.0
    assert sum(report["methods"].values()) == 3
    assert set(report["methods"]) <= {"model", "model-retry", "extractive-fallback"}
    assert report["docs_per_second"] > 0 and report["tokens_in"] > 0
    rows = [json.loads(line) for line in per_doc.read_text(encoding="utf-8").splitlines()]
    assert all(r["summary"] and r["method"] in report["methods"] for r in rows)
    assert not any({"echo", "degenerate"} & set(r["final_checks"]) for r in rows)
