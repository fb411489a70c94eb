"""Output guards against real failing outputs captured from the embedded models.

tests/data/guard_failures.jsonl holds raw outputs of gemma3-270m and smollm2-135m on
OrangeSum dev articles (loops, English, echoes of examples or of the system prompt,
invented numbers and names), each with the article and the prompt text it was given.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarize.quality import guards

DATA = Path(__file__).parent / "data"
FAILURES = [json.loads(line) for line in (DATA / "guard_failures.jsonl").read_text(encoding="utf-8").splitlines()]
GOOD = [json.loads(line) for line in (DATA / "guard_good.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: f"{c['model']}-{c['doc']}-{'+'.join(c['expected'])}")
def test_real_failure_is_caught(case: dict) -> None:
    summary = guards.clean(case["output"], truncated=True)
    failures = guards.check(summary, case["source"], template=case["template"], max_words=115)
    for expected in case["expected"]:
        assert expected in failures, f"{case['note']}: {failures}"


def test_fixtures_cover_every_guard_with_each_model() -> None:
    seen = {(c["model"], e) for c in FAILURES for e in c["expected"]}
    assert {e for _, e in seen} >= {guards.ECHO, guards.DEGENERATE, guards.NOT_FRENCH, guards.NUMBERS, guards.NAMES}
    assert {m for m, _ in seen} == {"gemma3-270m", "smollm2-135m"}


@pytest.mark.parametrize("case", GOOD, ids=lambda c: c["doc"])
def test_faithful_summaries_pass(case: dict) -> None:
    """BARThez outputs and accepted gemma outputs: no false alarm on the main guards."""
    failures = guards.check(case["summary"], case["source"], template=case["template"], max_words=115)
    assert not set(failures) & {guards.ECHO, guards.DEGENERATE, guards.NOT_FRENCH, guards.EMPTY}, failures


def test_english_is_not_french_and_french_is() -> None:
    english = next(c for c in FAILURES if "not-french" in c["expected"])
    assert guards.language(english["output"])[0] == "en"
    assert guards.is_french("Le gouvernement a décidé de ne pas prolonger l'état d'urgence sanitaire.")


def test_empty_and_too_long() -> None:
    assert guards.check("  ", "Un texte.", template="", max_words=50) == [guards.EMPTY]
    assert guards.check("Oui.", "Un texte.", template="", max_words=50) == [guards.EMPTY]
    long = " ".join(["Le conseil municipal a voté le budget de la ville."] * 3)
    assert guards.TOO_LONG in guards.check(long, long, template="", max_words=20)


def test_numbers_compared_loosely() -> None:
    source = "Plus de 1 500 personnes, soit 12,5 % des habitants, le 1er juillet 2020."
    assert guards.invented_numbers("1.500 personnes le 1er juillet, 12,5 %", source) == []
    assert guards.invented_numbers("2 000 personnes en 2021", source) == ["2 000", "2021"]


def test_names_compared_without_accents() -> None:
    source = "Le ministre de l'Économie, Bruno Le Maire, a parlé aux États-Unis."
    assert guards.invented_names("Selon le ministre de l'Economie Bruno Le Maire, aux Etats-Unis.", source) == []
    assert guards.invented_names("Selon Gérald Darmanin, tout va bien.", source) == ["Gérald", "Darmanin"]


def test_weekdays_and_months_must_come_from_the_source() -> None:
    # The deck (seed 002) is undated; gemma3-270m's fusion still said « ont annoncé ce vendredi ».
    deck = "Il a fallu 2 048 GPU pour entraîner le modèle. Mardi, l'équipe publie les poids en août."
    fused = "Les développeurs ont annoncé ce vendredi un nouveau modèle de données en Aout."
    assert guards.invented_dates(fused, deck) == ["vendredi"]  # « Aout » ~ « août »
    assert guards.DATES in guards.check(fused, deck, template="", max_words=50)
    assert guards.invented_dates("L'équipe publie mardi les poids du modèle.", deck) == []
    assert guards.DATES not in guards.check("L'équipe publie mardi les poids du modèle.", deck, template="",
                                            max_words=50)


def test_document_phrases_are_never_an_echo() -> None:
    # The prompt's example mentions the Mont-Blanc; an article about the Mont-Blanc may too.
    template = "Article : Un randonneur a été secouru dans le massif du Mont-Blanc.\nRésumé :"
    source = "Deux alpinistes ont été secourus dans le massif du Mont-Blanc samedi."
    assert not guards.is_echo("Deux alpinistes ont été secourus dans le massif du Mont-Blanc.", template,
                              source=source)


@pytest.mark.parametrize("raw, cleaned", [
    ("Résumé : Le chat dort.", "Le chat dort."),
    ("**Résumé du document :** Le chat dort.", "Le chat dort."),
    ("Résumé des négociations salariales et de leurs suites", "Résumé des négociations salariales et de leurs suites"),
    ("Le chat dort. Le chien", "Le chat dort."),
])
def test_clean(raw: str, cleaned: str) -> None:
    assert guards.clean(raw, truncated=raw.endswith("chien")) == cleaned


def test_fence_marks_copied_from_the_prompt_are_stripped() -> None:
    case = next(c for c in FAILURES if "garbled" in c["expected"])
    assert not guards.clean(case["output"]).startswith(">")
    assert ">>" not in guards.clean(case["output"])


def test_double_elision_comes_from_the_model_not_from_typography() -> None:
    """Issue 5: « d’l’open source » was in gemma3-270m's raw output; now a guard failure."""
    case = next(c for c in FAILURES if "garbled" in c["expected"])
    assert "d'l'open" in case["output"] and "d'l'" not in case["source"]
    assert guards.GARBLED not in guards.check("Aujourd'hui, c'est l'État qu'il faut.", "x", template="", max_words=50)


def test_uncovered_names_the_partial_summaries_a_fusion_dropped() -> None:
    parts = ["Thomas Pesquet partira en mars pour la station spatiale.", "La mairie de Lyon ferme trois piscines.",
             "Le Parlement européen vote une directive sur les batteries."]
    fused = "Thomas Pesquet partira en mars ; la mairie de Lyon ferme ses piscines."
    assert guards.uncovered(fused, parts) == [2]
    assert guards.uncovered(fused + " Les batteries seront remplaçables.", parts) == []


# -- output rules (issue 11): no bare URL, no English sentence -----------------

def test_bare_url_fails_and_is_dropped() -> None:
    source = "Plus d'infos dans l'épisode complet. Le débat porte sur l'IA et la gauche."
    summary = "https://youtu.be/fOVMDCGOluY Le débat porte sur l'IA et la gauche, selon l'auteur."
    assert guards.URL in guards.check(summary, source, template="", max_words=100)
    kept = guards.keep_french("Le débat porte sur l'IA. Voir https://youtu.be/abc pour la suite. Fin du débat.")
    assert kept == "Le débat porte sur l'IA. Fin du débat."
    assert guards.URL not in guards.check(kept, source + " Fin du débat.", template="", max_words=100)


def test_english_sentence_in_a_french_summary_fails_and_is_dropped() -> None:
    source = ("Une mère accuse un chatbot. The mother of a 14-year-old Florida boy says he became obsessed with a "
              "chatbot on Character.AI before his death.")
    summary = ("Une mère accuse un chatbot de Character.AI d'avoir poussé son fils au suicide. The mother of a "
               "14-year-old Florida boy says he became obsessed with a chatbot on Character.AI before his death.")
    assert guards.ENGLISH in guards.check(summary, source, template="", max_words=100)
    assert guards.keep_french(summary) == ("Une mère accuse un chatbot de Character.AI d'avoir poussé son fils "
                                           "au suicide.")


@pytest.mark.parametrize("case", GOOD, ids=lambda c: c["doc"])
def test_faithful_summaries_break_no_output_rule(case: dict) -> None:
    failures = guards.check(case["summary"], case["source"], template=case["template"], max_words=115)
    assert guards.URL not in failures and guards.ENGLISH not in failures
    assert guards.keep_french(case["summary"]) == case["summary"]


def test_fusion_sentences_must_be_supported_by_what_they_fuse() -> None:
    """The deck's last fusion (issue 11): the model fused two partial summaries into a decree
    nobody wrote; the supported sentence stays."""
    parts = ["Il a fallu 2 048 GPU pour entraîner en février 2023 le modèle d'IA générative LLaMA 1 de Meta.",
             "Pendant que le gouvernement fait adopter les mesures de la loi « Narcotrafic », la vidéosurveillance "
             "algorithmique va être étendue."]
    fused = ("Le gouvernement a adopté un décret portant sur la création d'une nouvelle division de "
             "l'administration du numérique. Le modèle d'IA générative LLaMA 1 de Meta a demandé 2 048 GPU.")
    assert guards.unsupported(fused, parts) == [fused.split(". ")[0] + "."]
    assert guards.keep_supported(fused, parts) == "Le modèle d'IA générative LLaMA 1 de Meta a demandé 2 048 GPU."
    assert guards.keep_supported(" ".join(parts), parts) == " ".join(parts)


def test_a_fusion_sentence_must_come_from_one_part_not_words_gathered_from_several() -> None:
    """The deck with the adapter (issue 23): every content word of the invented complaint is in
    some partial summary, its fact in none; a sentence one part supports stays."""
    parts = ["Google a présenté un nouveau mode de recherche pour ses moteurs de recherche.",
             "La plainte pour des motifs similaires, déposée contre OpenAI, intervient dans un contexte tumultueux.",
             "La start-up chinoise DeepSeek a été accusée de violer les droits d'auteur."]
    blend = "Google a déposé une plainte contre OpenAI pour violer les droits d'auteur."
    assert guards.unsupported(blend, parts) == [blend]
    kept = "La start-up chinoise DeepSeek est accusée de violer les droits d'auteur."
    assert guards.keep_supported(f"{blend} {kept}", parts) == kept
    # The same words in one part: supported.
    assert guards.unsupported(blend, [" ".join(parts)]) == []


# -- output rules (issue 23): no markup ----------------------------------------

@pytest.mark.parametrize("summary", [
    "<b>Le conseil municipal a voté le budget de la ville.</b>",  # what gemma3-270m wrote (2 of 10 documents)
    "Le conseil municipal a voté le <strong>budget</strong> de la ville.",
    "Le conseil municipal a voté le budget.<br/> La ville investit dans les écoles.",
    "Le conseil municipal a voté le budget de la ville&nbsp;: les écoles d'abord.",
    '<span class="x">Le conseil municipal a voté le budget de la ville.</span>',
])
def test_markup_is_a_guard_failure(summary: str) -> None:
    source = "Le conseil municipal a voté le budget de la ville : la ville investit dans les écoles d'abord."
    assert guards.has_markup(summary)
    assert guards.MARKUP in guards.check(summary, source, template="", max_words=100)


def test_markup_sentences_are_dropped_like_urls() -> None:
    kept = guards.keep_french("Le budget est voté. Les <i>écoles</i> d'abord. La ville investit.")
    assert kept == "Le budget est voté. La ville investit."
    assert guards.keep_french("<b>Le budget est voté.</b>") == ""  # nothing left: the guards fail it as empty


@pytest.mark.parametrize("text", [
    "Le taux reste < 5 % selon l'Insee, et la dette > 100 % du PIB.",  # comparisons, not tags
    "Le groupe AT&T rachète Time Warner.", "<<< Le budget est voté. >>>",
])
def test_text_that_only_looks_like_markup_passes(text: str) -> None:
    assert not guards.has_markup(text)


@pytest.mark.parametrize("case", GOOD, ids=lambda c: c["doc"])
def test_faithful_summaries_have_no_markup(case: dict) -> None:
    assert guards.MARKUP not in guards.check(case["summary"], case["source"], template=case["template"],
                                             max_words=115)
