"""The labelled check of the support rule (issue 20, acceptance 3): on OrangeSum *valid*
abstracts (never the test split), ≥ 90 % of corrupted sentences flagged and ≥ 90 % of the
untouched grounded ones kept. The full split's table is in docs/BENCHMARKS.md."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import attribution_check as check  # noqa: E402

pytestmark = pytest.mark.skipif(not check.SPLITS["valid"].exists(), reason="shared/train/orangesum not present")


def test_corrupted_abstracts_are_flagged_and_grounded_ones_kept() -> None:
    result = check.check(list(check.rows("valid", limit=600)))  # a fixed slice: ~3 s
    table = result["table"]
    assert sum(table["untouched"].values()) >= 200 and all(sum(table[k].values()) >= 40 for k in check.KINDS)
    assert result["kept_untouched"] >= 0.90, result
    assert result["flagged_corrupted"] >= 0.90, result
    assert result["flagged_by_kind"]["number"] == 1.0 and result["flagged_by_kind"]["name"] == 1.0


def test_corruptions_change_what_they_say() -> None:
    import random

    article = "Le maire de Lyon a présenté 3 projets à Lyon mardi."
    rng = random.Random(1)
    assert check.corrupt_number("Il a présenté 3 projets.", article, rng) not in (None, "Il a présenté 3 projets.")
    assert check.corrupt_negation("Le maire a présenté un plan.", rng) == "Le maire n'a pas présenté un plan."
    assert check.corrupt_negation("Il n'a pas été élu.", rng) == "Il a été élu."
    assert check.corrupt_negation("Il s'est retiré.", rng) == "Il ne s'est pas retiré."
    placed = check.corrupt_place("Un accident a eu lieu à Lyon.", article, rng)
    assert placed and "Lyon" not in placed
