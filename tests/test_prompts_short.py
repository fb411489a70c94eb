"""Short-summary prompts (issue 5): extract-then-rewrite, examples as data, retry variants."""
from __future__ import annotations

from summarize import prompts
from summarize.quality.extractive import firsts, opening, salient, sentences

DOC = ("Titre court\n\nLe conseil municipal de Nantes a voté lundi soir la gratuité des transports le week-end. "
       "La mesure entrera en vigueur en janvier, a précisé la maire.Elle coûtera 12 millions d'euros par an. "
       "Les commerçants du centre-ville saluent une décision attendue. " + "Une phrase de plus sur le sujet. " * 40)


def test_base_short_prompt_shows_examples_then_the_lead_only() -> None:
    p = prompts.load().render("single", DOC, chat=False, length="short")
    assert p.text is not None and p.stop == ("\n", "Article :")
    assert p.text.count("Article :") == 4 and p.text.endswith("Résumé :")
    last = p.text.rsplit("Article : ", 1)[1]
    assert last.startswith("Le conseil municipal de Nantes") and "Titre court" not in last
    assert "Une phrase de plus" not in last or len(last.split()) < 100  # the lead, not the article


def test_medium_reduce_and_chat_map_prompts_show_the_whole_document() -> None:
    ps = prompts.load()
    assert ps.input_of("single", chat=False, length="short") == "lead"
    assert ps.input_of("map", chat=False, length="short") == "salient"  # a long document's chunk, base model
    for stage, length, chat in [("single", "medium", False), ("single", "long", True), ("map", "short", True),
                                ("reduce", "short", True), ("reduce", "short", False)]:
        assert ps.input_of(stage, chat=chat, length=length) == "document"
    assert DOC.strip()[-30:] in (ps.render("single", DOC, chat=False, length="medium").text or "")


def test_chat_short_prompt_gives_examples_as_turns() -> None:
    p = prompts.load().render("single", DOC, chat=True, length="short")
    roles = [r for r, _ in p.messages or ()]
    assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert (p.messages or ())[-1][1].startswith("Le conseil municipal de Nantes")


def test_retry_uses_other_examples() -> None:
    ps = prompts.load()
    first = ps.render("single", DOC, chat=False, length="short").text or ""
    retry = ps.render("single", DOC, chat=False, length="short", retry=True).text or ""
    assert "piscines" in first and "piscines" not in retry and "vélos" in retry
    assert retry.endswith(first.rsplit("Article : ", 1)[1])  # same lead, same format
    assert ps.render("single", DOC, chat=False, length="medium", retry=True).text == \
        ps.render("single", DOC, chat=False, length="medium").text  # no retry variant: unchanged


def test_lead_splits_glued_sentences_and_skips_titles() -> None:
    assert "la maire. Elle coûtera" in " ".join(sentences(DOC))
    lead = opening(DOC, 20)
    assert lead.startswith("Le conseil municipal") and lead.endswith("a précisé la maire.")


def test_salient_keeps_the_central_sentences_whole_and_in_order() -> None:
    chunk = ("Le marché couvert de Rennes rouvre ses portes. " + "Il pleuvait ce matin-là. " +
             "Les maraîchers du marché couvert saluent la réouverture du marché. " +
             "Un chat traversa la rue. " * 5 + "Le marché couvert accueillera quarante maraîchers.")
    picked = salient(chunk, 20)
    assert "marché couvert accueillera quarante maraîchers." in picked and "Un chat" not in picked
    assert picked.index("rouvre ses portes") < picked.index("quarante")  # document order
    assert all(s in chunk for s in sentences(picked))


def test_failed_fusion_keeps_the_first_sentence_of_every_part() -> None:
    parts = ["La mairie ferme trois piscines. Elle promet une réouverture.", "Le Parlement vote une directive.",
             "Un randonneur est secouru. Il va bien."]
    assert firsts(parts) == "La mairie ferme trois piscines. Le Parlement vote une directive. Un randonneur est secouru."
