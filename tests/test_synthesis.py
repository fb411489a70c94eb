"""Corpus synthesis rules (issue 4), without a model: attribution, dropping, coverage, citations."""
from __future__ import annotations

from summarize.batch.synthesis import attribute, extractive, render, split_sentences

DOCS = [
    {"path": "corpus/velo.txt", "output": "velo.txt.md",
     "summary": "La mairie de Rennes ouvre trois pistes cyclables en avril. Les travaux dureront six mois."},
    {"path": "corpus/musee.txt", "output": "musee.txt.md",
     "summary": "Le musée de Lyon expose cent toiles impressionnistes jusqu'en septembre."},
    {"path": "corpus/meteo.txt", "output": "meteo.txt.md",
     "summary": "Une tempête a privé d'électricité des milliers de foyers en Bretagne."},
]


def test_supported_sentences_are_cited_and_the_rest_dropped():
    draft = ("- La mairie de Rennes ouvre trois pistes cyclables. "
             "- Le musée de Lyon expose des toiles impressionnistes. "
             "- Le gouvernement annonce une réforme fiscale ambitieuse pour les entreprises. "  # nobody says this
             "- Les travaux des pistes cyclables de Rennes dureront 18 mois.")  # invented number
    kept = attribute(draft, DOCS)
    assert kept == [("La mairie de Rennes ouvre trois pistes cyclables.", [0]),
                    ("Le musée de Lyon expose des toiles impressionnistes.", [1])]


def test_duplicates_and_scaffolding_do_not_become_points():
    draft = "La mairie de Rennes ouvre trois pistes cyclables. La mairie de Rennes ouvre trois pistes cyclables. Oui."
    assert len(attribute(draft, DOCS)) == 1


def test_uncovered_documents_contribute_their_lead_and_every_point_is_cited():
    overview = attribute("Le musée de Lyon expose cent toiles impressionnistes.", DOCS)
    covered = {i for _, cited in overview for i in cited}
    points = [p for p in extractive(DOCS) if p[1][0] not in covered]
    text = render(DOCS, (overview, points), "model", "gemma3-270m")
    bullets = [line for line in text.split("## Sources")[0].splitlines() if line.startswith("- ")]
    assert len(bullets) == 3
    assert all(line.endswith("`]") and "[source : `corpus/" in line for line in bullets)
    for doc in DOCS:
        assert f"`{doc['path']}`" in text and f"(<{doc['output']}>)" in text
    assert "1 point(s) en fin de liste" not in text and "2 point(s) en fin de liste" in text


def test_sentences_split_on_bullets_and_sentence_ends():
    assert split_sentences("- Un point. Une suite ! - Deux points") == ["Un point.", "Une suite !", "Deux points"]
    assert split_sentences("Les pistes cyclables du centre-ville ouvriront en 2030.") == [
        "Les pistes cyclables du centre-ville ouvriront en 2030."]
