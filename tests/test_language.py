"""Sentence-level English detection (issue 11): no false alarm on French news sentences,
English passages of the seeds caught. Pure logic (py3langid), no model."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from summarize.quality import language
from summarize.quality.extractive import sentences

ROOT = Path(__file__).resolve().parent.parent
TRAIN = next((p / "shared" / "train" / "orangesum" / "train.jsonl.gz" for p in (ROOT.parent, ROOT.parent.parent)
              if (p / "shared" / "train").is_dir()), ROOT.parent / "shared" / "train" / "orangesum" / "train.jsonl.gz")
DECK = next((ROOT / "seeds").glob("002_*.txt"))


@pytest.mark.parametrize("sentence", [
    "The mother of a 14-year-old Florida boy says he became obsessed with a chatbot on Character.AI before his death.",
    "Gemini may display inaccurate information and does not represent Google's views.",
    "What if 1% of the planet does this request everyday for 1 year ?",
    "Based on energy consumption",
    "Why tech giants such as Microsoft, Amazon, Google and Meta are betting big on nuclear power",
])
def test_english_sentences_are_caught(sentence: str) -> None:
    assert language.is_english(sentence)


@pytest.mark.parametrize("sentence", [
    "Le PDG d'OpenAI, Sam Altman, a déclaré dans un AMA (Ask Me Anything) sur Reddit que l'approche fermée "
    "était plus sûre.",
    "Le « New York Times » poursuit en justice Microsoft et OpenAI, créateur de ChatGPT.",
    "Google a présenté lors de sa conférence I/O un nouveau mode, appelé AI Mode.",
    "Open Source Summit",  # too short to judge
    "La scène open source autour des LLMs est très active.",
    "Yann LeCun quitte Meta.",
])
def test_french_sentences_with_english_names_are_not(sentence: str) -> None:
    assert not language.is_english(sentence)


def test_most_english_lines_of_the_deck_are_caught() -> None:
    found = [s for s in sentences(DECK.read_text(encoding="utf-8")) if len(s.split()) >= 8]
    english = [s for s in found if language.is_english(s)]
    assert 40 <= len(english) < 80  # the deck's screenshots of English pages
    assert not [s for s in english if language.is_french(s)]


@pytest.mark.skipif(not TRAIN.exists(), reason="OrangeSum train split not present")
def test_no_false_alarm_on_french_news() -> None:
    """OrangeSum train (never the test split): 300 articles with their abstracts and titles,
    ~5,000 sentences. The full train split (370,840 sentences) flags 7, each a real English
    quotation (docs/BENCHMARKS.md, issue 11)."""
    flagged, total = [], 0
    with gzip.open(TRAIN, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i == 300:
                break
            row = json.loads(line)
            for s in sentences(row["document"]) + [row["abstract"], row["title"]]:
                total += 1
                if language.is_english(s):
                    flagged.append(s)
    assert total > 4000 and flagged == []
