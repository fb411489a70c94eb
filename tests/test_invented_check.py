"""The support rule on sentences the default model really invented (issue 20, acceptance 4):
benchmarks/data/invented.jsonl, labelled by hand (benchmarks/invented_check.py). The seeds' rows
need nothing but the repository; the OrangeSum *valid* rows need the shared split."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import attribution_check  # noqa: E402
import invented_check as check  # noqa: E402

ROWS = check.load()


def test_the_labelled_set_is_well_formed() -> None:
    assert len(ROWS) >= 300 and {r["label"] for r in ROWS} == {"invented", "faithful", "unclear"}
    assert {r["set"] for r in ROWS} == {"dev", "held-out"}
    for r in ROWS:
        assert r["doc"].startswith(("seed:", "valid:")) and r["sentence"].strip() and r["why"].strip()
        assert "test" not in r["doc"]  # never the test split
        if r["doc"].startswith("seed:"):
            assert (ROOT / "seeds" / r["doc"][5:]).is_file()


def test_the_seeds_real_inventions_are_flagged() -> None:
    """Every sentence the model invented on the seeds (quotes nobody said, « éco-idéal », « au
    profit du bien-être collectif »…) is flagged but those listed below, which this lexical rule
    cannot tell from the document (docs/BENCHMARKS.md): seed 000's « tabac privatisé » among them."""
    lexical_limit = ("Plusieurs documents ont été découverts", "Les développeurs Open Source ont commencé",
                     "en adressant une lettre au président Donald Trump", "l’introduction d’un tabac privatisé",
                     "Les social-démocrates ont dit avoir un avis négatif")
    result = check.check([r for r in ROWS if r["doc"].startswith("seed:")])
    missed = [w["sentence"] for w in result["wrong"]["invented"]]
    assert all(any(known in s for known in lexical_limit) for s in missed), missed
    assert result["table"]["invented"]["flagged"] >= 18 and len(missed) <= 6
    assert result["kept_faithful"] == 1.0, result["wrong"]["faithful"]


@pytest.mark.skipif(not attribution_check.SPLITS["valid"].exists(), reason="shared/train/orangesum not present")
def test_real_inventions_flagged_and_faithful_sentences_kept() -> None:
    """The whole set, dev and held-out, as measured with support-3 (docs/BENCHMARKS.md: 80.6 % /
    97.7 % on dev, 64.6 % / 92.5 % on held-out; support-2 gave 72.6 % / 97.7 % and 64.6 % / 93.8 %)."""
    for name, flagged, kept in (("dev", 0.806, 0.977), ("held-out", 0.645, 0.925)):
        result = check.check([r for r in ROWS if r["set"] == name])
        assert result["flagged_invented"] >= flagged, (name, result["wrong"]["invented"])
        assert result["kept_faithful"] >= kept, (name, result["wrong"]["faithful"])
