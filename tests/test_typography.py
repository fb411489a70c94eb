"""French typography of final summaries (summarize/quality/typography.py)."""
from __future__ import annotations

import pytest

from summarize.quality.typography import NBSP, NNBSP, french_typography


def test_guillemets_with_no_break_spaces() -> None:
    assert french_typography('Il a parlé d\'une "normalisation de l\'humiliation".') == \
        f"Il a parlé d’une «{NBSP}normalisation de l’humiliation{NBSP}»."


def test_high_punctuation_gets_a_narrow_no_break_space() -> None:
    out = french_typography("Vraiment?! Oui; et alors: rien!")
    assert out == f"Vraiment{NNBSP}?! Oui{NNBSP}; et alors{NBSP}: rien{NNBSP}!"


def test_existing_spaces_are_replaced_not_doubled() -> None:
    assert french_typography("Il a dit : « non » ?") == f"Il a dit{NBSP}: «{NBSP}non{NBSP}»{NNBSP}?"


@pytest.mark.parametrize("text", ["Rendez-vous à 10:30 précises.", "Voir https://exemple.fr/page?id=3&x=1 ici."])
def test_times_and_urls_are_left_alone(text: str) -> None:
    assert french_typography(text) == text


def test_elisions_become_typographic_apostrophes() -> None:
    assert french_typography("l'État d'urgence, aujourd'hui") == "l’État d’urgence, aujourd’hui"


def test_apostrophes_never_invent_an_elision() -> None:
    # Issue 5 saw « d’l’open source » in an output: typography only turns each existing
    # straight apostrophe into ’, it cannot produce "d’l’" from "de l'open source".
    assert french_typography("les roues de l'open source") == "les roues de l’open source"
    assert french_typography("d'l'open source") == "d’l’open source"  # the model's own words, kept


def test_summary_starting_inside_a_quotation() -> None:
    # Real gemma3-270m output: it began after the opening quote of « Touche pas à mon poste ».
    # Pairing left to right would quote « a été diffusée … avec » instead of the titles.
    raw = 'Touche pas à mon poste" a été diffusée fin janvier sur D8 avec "Top Chef".'
    assert french_typography(raw) == f"Touche pas à mon poste a été diffusée fin janvier sur D8 avec «{NBSP}Top Chef{NBSP}»."


def test_curly_quotes_and_unclosed_quote() -> None:
    assert french_typography("Il dit “oui” puis \"non") == f"Il dit «{NBSP}oui{NBSP}» puis non"
