"""Extractive picks on real documents (issue 11): never English, never a URL; prose before
slide titles and quoted examples. Pure logic, no model."""
from __future__ import annotations

from pathlib import Path

import pytest

from summarize.quality import extractive, guards, language
from summarize.reading import cleanup
from summarize.reading.text import normalize

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed(prefix: str) -> str:
    return cleanup.clean(normalize(next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")))


@pytest.mark.parametrize("sentence, prose", [
    ("Il a fallu 2 048 GPU pour entraîner le modèle LLaMA 1 pendant 23 jours.", True),
    ("- Rien de révolutionnaire : l'IA n'est pas un sorcier, mais c'est un prestidigitateur talentueux.", True),
    ("Risques sociaux : emploi", False),
    ("L'IA, une technologie comme les autres ?", False),
    ("Taille: Les œufs de poule sont plus petits que les œufs de vache, environ deux fois plus petits.", False),
    ("« Il faut à tout prix ne pas l'utiliser ! »", False),
    ("- Levez la main (sans crainte de jugement) si...", False),
    ("'_student' 1236 [-0.0460, 0.0031, 0.0545, ...]", False),
])
def test_prose_or_fragment(sentence: str, prose: bool) -> None:
    assert extractive.is_prose(sentence) is prose


def test_deck_fallback_is_french_prose_without_the_quoted_hallucination() -> None:
    deck = seed("002")
    for start in range(0, len(deck), 4000):  # each part of the deck, as a chunk fallback would see it
        part = deck[start:start + 4000]
        for pick in (extractive.lead(part, "short"), extractive.salient(part, 45)):
            for sentence in extractive.sentences(pick):
                assert not language.is_english(sentence), sentence
                assert not cleanup.has_url(sentence), sentence
                assert "œufs de vache" not in sentence
    lead = extractive.lead(deck, "medium")
    assert all(extractive.is_prose(s) for s in extractive.sentences(lead)), lead


def test_transcript_fallback_never_starts_with_the_url() -> None:
    raw = normalize(next(SEEDS.glob("004_*.txt")).read_text(encoding="utf-8"))
    assert not guards.has_url(extractive.lead(raw, "medium"))  # even on the uncleaned text
    assert extractive.lead(seed("004"), "medium").startswith("Et bon, comme c’est mon domaine d’études")


def test_news_fallback_is_still_the_lead() -> None:
    news = seed("001")
    assert extractive.lead(news, "short").startswith("Le directeur scientifique de Meta conseille à l'Europe")


def test_firsts_skips_foreign_sentences() -> None:
    parts = ["The mother of a Florida boy says he became obsessed with a chatbot. Une mère accuse un chatbot.",
             "Le sommet de Paris a réuni les dirigeants."]
    assert extractive.firsts(parts) == "Une mère accuse un chatbot. Le sommet de Paris a réuni les dirigeants."


def test_picks_lose_their_list_markers() -> None:
    deck = "- Il a fallu 2 048 GPU pour entraîner le modèle LLaMA 1 de Meta pendant 23 jours.\n- Autre ligne."
    assert extractive.lead(deck, "short").startswith("Il a fallu 2 048 GPU")
    assert extractive.firsts(["- Le numérique ne peut être que industriel. Suite."]) == \
        "Le numérique ne peut être que industriel."
