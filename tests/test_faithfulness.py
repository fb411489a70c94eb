"""Faithfulness measured like ROUGE (issue 20): supported share and invented-entity rate, per
system and for the reference and lead-1 baselines, in `summarize eval`. No model needed."""
from __future__ import annotations

import json
from pathlib import Path

from summarize import evaluate
from summarize.quality import Faithfulness, invented

ARTICLE = ("Le maire de Lyon, Grégory Doucet, a présenté mardi un plan de 120 millions d'euros pour le vélo. "
           "Le réseau cyclable passera de 1 000 à 1 500 kilomètres d'ici 2026, selon la métropole. "
           "L'opposition juge le projet trop coûteux.")


def test_invented_entities_are_those_the_article_never_writes() -> None:
    total, made_up = invented("Grégory Doucet a présenté mardi un plan de 120 millions d'euros.", ARTICLE)
    assert total == 4 and made_up == []  # Grégory, Doucet, mardi, 120
    total, made_up = invented("Selon Anne Hidalgo, un plan de 150 millions d'euros sera présenté jeudi à Lyon.",
                              ARTICLE)
    assert sorted(made_up) == ["150", "anne", "hidalgo", "jeudi"] and total == 5  # Lyon is in the article
    # A first word is a name only when the article writes it as one: « Anne » here could be a word.
    assert invented("Anne a présenté un plan.", ARTICLE) == (0, [])


def test_totals_are_micro_averages() -> None:
    f = Faithfulness()
    f.add("Le réseau cyclable passera à 1 500 kilomètres d'ici 2026.", ARTICLE)
    f.add("Le maire de Paris a démissionné en 1999. L'opposition juge le projet trop coûteux.", ARTICLE)
    out = f.as_dict()
    assert out["sentences"] == 3 and out["supported_share"] == round(2 / 3, 4)
    assert out["entities"] == 4 and out["invented_entity_rate"] == 0.5  # Paris and 1999 invented
    assert set(out["invented_examples"]) == {"paris", "1999"}


def test_eval_reports_faithfulness_for_the_system_and_the_baselines(tmp_path: Path) -> None:
    data = tmp_path / "mini.jsonl"
    rows = [{"id": "a", "document": ARTICLE, "reference": "Lyon veut 1 500 km de pistes cyclables en 2026.",
             "invented": "La maire de Paris a annoncé 300 kilomètres de pistes en 2030."}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    report = evaluate.evaluate(str(data), system_field="invented")
    assert report.faithfulness["supported_share"] == 0.0 and report.faithfulness["invented_entity_rate"] == 1.0
    assert report.faithfulness_baselines["lead-1"]["supported_share"] == 1.0
    assert report.faithfulness_baselines["lead-1"]["invented_entity_rate"] == 0.0
    assert "reference" in report.faithfulness_baselines
    text = evaluate.format_report(report)
    assert "faithfulness" in text and "lead-1" in text
    assert json.loads(json.dumps(report.as_dict()))["faithfulness"]["documents"] == 1
