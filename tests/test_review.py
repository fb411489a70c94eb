"""quality/review.py: one output through the output rules, the support rule and the guards."""
from __future__ import annotations

from summarize.quality import attribution, guards
from summarize.quality.review import Review

CONTENT = ("La mairie de Rennes a décidé lundi de rendre les bus gratuits le samedi à partir de janvier. "
           "La mesure coûtera deux millions d'euros par an, financés par le budget des transports.")


def test_a_document_summary_keeps_its_supported_french_sentences_and_counts_the_rest() -> None:
    review = Review(CONTENT, CONTENT, template_text="Document :", max_words=80)
    verdict = review("Les bus de Rennes seront gratuits le samedi à partir de janvier. "
                     "The city council voted the measure on Monday evening.")
    assert verdict.summary == "Les bus de Rennes seront gratuits le samedi à partir de janvier."
    assert verdict.failures == [] and verdict.dropped == 1
    # Mostly unsupported: nothing kept is trusted, the stage retries.
    invented = review("Le maire a inauguré une piscine olympique au centre-ville. Le stade ferme en mars.")
    assert attribution.UNSUPPORTED in invented.failures or guards.EMPTY in invented.failures


def test_a_fusion_drops_a_blend_and_fails_when_a_part_is_no_longer_mentioned() -> None:
    parts = ["Google a présenté un nouveau mode de recherche pour ses moteurs de recherche.",
             "La plainte pour des motifs similaires, déposée contre OpenAI, intervient dans un contexte tumultueux.",
             "La start-up chinoise DeepSeek a été accusée de violer les droits d'auteur."]
    review = Review(" ".join(parts), " ".join(parts), template_text="Document :", max_words=80, inputs=parts)
    each = review("Google a présenté un nouveau mode de recherche. Une plainte a été déposée contre OpenAI. "
                  "DeepSeek a été accusée de violer les droits d'auteur.")
    assert each.failures == [] and each.dropped == 0
    blend = review("Google a déposé une plainte contre OpenAI pour violer les droits d'auteur. "
                   "Google a présenté un nouveau mode de recherche.")
    assert blend.dropped == 1 and blend.summary == "Google a présenté un nouveau mode de recherche."
    assert blend.failures == [guards.UNCOVERED]  # the complaint and DeepSeek's parts are gone
