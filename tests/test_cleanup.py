"""The clean-up of real documents (issue 11) on the seed patterns: what a reader skips is
dropped, every content sentence stays. Pure logic, no model."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summarize import quality, summarizer
from summarize.quality import guards
from summarize.reading import cleanup
from summarize.quality.extractive import sentences
from summarize.reading.text import normalize

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the checkout (a worktree under wt/ finds it one level further up).
TRAIN = next((p / "shared" / "train" / "orangesum" / "train.jsonl.gz" for p in (ROOT.parent, ROOT.parent.parent)
              if (p / "shared" / "train").is_dir()), ROOT.parent / "shared" / "train" / "orangesum" / "train.jsonl.gz")


def seed(prefix: str) -> str:
    return normalize(next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8"))


def reasons(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in cleanup.clean_lines(text)[1]:
        out.setdefault(d.reason, []).append(d.line)
    return out


def assert_keeps_content(raw: str, cleaned: str, *, skipped: set[str] = frozenset()) -> None:
    """Every sentence of 8+ words of the input is in the output, except exact repeats and
    the ``skipped`` ones named by the test."""
    flat = " ".join(cleaned.split())
    for sentence in sentences(raw):
        if len(sentence.split()) >= 8 and sentence not in skipped and "http" not in sentence:
            # without the marks a reader does not see
            plain = " ".join(re.sub(r"~~[^~]*~~", " ", sentence).replace("**", "").split())
            assert plain in flat, sentence


def test_versions_in_the_cache_key_match_the_modules() -> None:
    assert summarizer.TEXT_RULES == f"{cleanup.VERSION}+{guards.RULES_VERSION}+{quality.VERSION}"


# -- the seeds ---------------------------------------------------------------

def test_web_scrape_000_permalink_residue_and_repeated_lead() -> None:
    raw = seed("000")
    cleaned = cleanup.clean(raw)
    got = reasons(raw)
    assert got["furniture"] == ["— Permalien", "— Permalink", "— Permalink"]
    assert len(got["residue"]) == 2 and all(x.startswith("vid{") for x in got["residue"])
    assert got["repeat"] == [raw.split("\n")[1]]  # the lead, repeated verbatim after « Permalien »
    assert cleaned.count("Le lauréat du prix Turing Yann LeCun claque la porte de Meta") == 1
    assert "Permalien" not in cleaned and "vid{" not in cleaned
    assert set(got) == {"furniture", "residue", "repeat"}
    assert cleaned.startswith("Yann LeCun quitte Meta : « Les LLM sont une impasse »")  # the title stays
    assert_keeps_content(raw, cleaned)


def test_news_001_image_lines_only() -> None:
    raw = seed("001")
    cleaned = cleanup.clean(raw)
    got = reasons(raw)
    assert set(got) == {"image"} and len(got["image"]) == 2
    assert "pic.clubic.com" not in cleaned and "![" not in cleaned
    assert "Yan LeCun met en garde contre la tentation de rendre l'open source illégal" in cleaned  # a subtitle
    assert "Source : Business Insider" in cleaned and "04 février 2025 à 14h11" in cleaned
    assert_keeps_content(raw, cleaned)


def test_deck_002_links_buttons_and_hashtags_but_every_bullet_stays() -> None:
    raw = seed("002")
    cleaned = cleanup.clean(raw)
    got = reasons(raw)
    assert "➔ <https://framamia.org>" in got["url"]
    assert "Source : <https://limitesnumeriques.fr/travaux-productions/ai-forcing>" in got["url"]
    assert {"Partager", "JE M'ABONNE", "Acheter maintenant", "Pas maintenant"} <= set(got["furniture"])
    assert {"#FoutageDeGueule", "#Capitalisme"} <= set(got["hashtags"])
    assert "TOUTE L'ACTUALITÉ / DATACENTER / CALCUL" in got["breadcrumb"]
    assert "http" not in cleaned and "**" not in cleaned
    # List items are content, even when a word matches furniture (« Refuser », « Réduire »…),
    # and « > » inside a bullet is not a breadcrumb.
    assert "- Refuser\n- Ce dont on a pas besoin\n- Réduire" in cleaned
    assert "- Temporalité numérique > temporalité « business » > temporalité société" in cleaned
    assert "Ce n'est pas l'IA que vous détestez,\nc'est le capitalisme." in cleaned  # bold marks gone
    repeated = set(got.get("repeat", []))
    assert_keeps_content(raw, cleaned, skipped=repeated | {s for r in repeated for s in sentences(r)})


def test_web_article_003_breadcrumb_teasers_consent_and_comment_form() -> None:
    raw = seed("003")
    cleaned = cleanup.clean(raw)
    got = reasons(raw)
    assert got["breadcrumb"] == ["Home » Économie » Ce que dit le patron de l’IA de Meta à propos de la startup "
                                 "chinoise DeepSeek"]
    assert got["furniture"][:3] == ["Lire aussi"] * 3
    assert {"You may also like", "Leave a Comment"} <= set(got["furniture"])
    assert len(got["teaser"]) == 3 and got["teaser"][0].startswith("Stargate prévoit un centre de données")
    assert got["credit"] == ["FABRICE COFFRINI / AFP via Getty Images"]
    assert got["consent"][0].startswith("Vous disposez d’un abonnement ContentPass")
    assert got["hashtags"][0].startswith("#dit #patron")
    for gone in ("Akismet", "“>", "Contenu externe", "bague Oura", "Home »"):
        assert gone not in cleaned
    assert cleaned.startswith("Ce que dit le patron de l’IA de Meta à propos de la startup chinoise DeepSeek")
    teasers = {line for reason in ("teaser", "consent", "furniture", "breadcrumb", "hashtags") for line in got[reason]}
    assert_keeps_content(raw, cleaned, skipped={s for t in teasers for s in sentences(t)})


def test_transcript_004_url_first_and_repeated_paragraphs() -> None:
    raw = seed("004")
    cleaned = cleanup.clean(raw)
    got = reasons(raw)
    assert got["url"][0].startswith("Plus d'infos dans l'épisode complet sur Sci+ : https://youtu.be/")
    assert len(got["repeat"]) == 9  # the pasted comment thread, twice
    assert set(got) == {"url", "repeat"}
    assert cleaned.startswith("Et bon, comme c’est mon domaine d’études")
    assert "youtu" not in cleaned and "Merci!" in cleaned  # a short line may stay
    assert_keeps_content(raw, cleaned)


# -- crafted cases -------------------------------------------------------------

def test_inline_html_markdown_and_urls() -> None:
    text = ("<b>Le gouvernement</b> a annoncé <i>mardi</i> un plan.<br>Il sera voté en juin.\n"
            "Le rapport est en ligne sur https://www.example.fr/rapport.pdf. Les syndicats le contestent.\n"
            "Voir [la note du ministère](https://ex.fr/note) et ![photo](img/a.jpg) &amp; le reste.")
    cleaned = cleanup.clean(text)
    assert cleaned == ("Le gouvernement a annoncé mardi un plan. Il sera voté en juin.\n"
                       "Le rapport est en ligne sur. Les syndicats le contestent.\n"
                       "Voir la note du ministère et & le reste.")


def test_short_furniture_lines_french_and_english() -> None:
    lines = ["Partager sur Facebook", "Partager l'article", "À lire aussi", "Imprimer", "12 commentaires",
             "Abonnez-vous", "Accueil", "Tout accepter", "Paramétrer les cookies", "Retour en haut",
             "Share this", "Read more", "— Permalink", "Publicité", "Mots-clés : IA, Meta"]
    text = "\n".join(["Le texte commence ici avec une phrase complète."] + lines)
    got = reasons(text)
    assert sorted(got["furniture"]) == sorted(lines)
    assert cleanup.clean(text) == "Le texte commence ici avec une phrase complète."


@pytest.mark.parametrize("sentence", [
    "Partager le pouvoir est la seule issue, estime la ministre.",
    "Lire aussi les rapports précédents permet de comprendre la décision.",
    "Menu unique à la cantine : les parents d'élèves protestent.",
    "Accepter ces conditions reviendrait à renoncer à nos droits, dit-il.",
    "Les cookies tiers seront interdits en 2025, selon la CNIL.",
    "Comment ?",
    "- Refuser",
])
def test_sentences_that_contain_furniture_words_stay(sentence: str) -> None:
    text = f"Un article commence.\n{sentence}"
    assert cleanup.clean(text) == text


def test_image_lines_and_file_names() -> None:
    text = "[image]\nFigure 3\nphoto_2024-01.JPG\nImage : schema.png\nLe schéma montre trois étapes.\n(Vidéo)"
    assert cleanup.clean(text) == "Le schéma montre trois étapes."
    assert set(reasons(text)) == {"image"}


def test_lire_aussi_takes_only_the_next_title() -> None:
    text = ("Premier paragraphe de l'article.\nLire aussi\n\nUn autre article sans point final\n"
            "La suite de l'article, avec un point.\nÀ lire aussi : Le titre d'un autre article\n"
            "Dernier paragraphe.")
    assert cleanup.clean(text) == ("Premier paragraphe de l'article.\n\nLa suite de l'article, avec un point.\n"
                                   "Dernier paragraphe.")


def test_lire_aussi_never_takes_a_sentence() -> None:
    text = "Début.\nLire aussi\nLe ministre a démenti ces informations lundi soir."
    assert cleanup.clean(text) == "Début.\nLe ministre a démenti ces informations lundi soir."


def test_repeats_only_for_content_lines() -> None:
    text = "Question :\nPourquoi ?\nQuestion :\nComment ?\n" + "Une phrase de contenu assez longue ici.\n" * 3
    assert cleanup.clean(text) == ("Question :\nPourquoi ?\nQuestion :\nComment ?\n"
                                   "Une phrase de contenu assez longue ici.")


def test_breadcrumbs() -> None:
    assert cleanup.clean("Accueil > Sport > Football\nLe match a eu lieu.") == "Le match a eu lieu."
    assert cleanup.clean("Accueil / Economie / Médias\nTexte.") == "Texte."
    kept = "Paris / Lyon / Marseille\nTexte."  # slashes without a root section: kept
    assert cleanup.clean(kept) == kept


def test_text_with_nothing_left_is_kept() -> None:
    text = "Partager\nhttps://example.org"
    assert cleanup.clean(text) == text


def test_censored_words_and_unpaired_marks_stay() -> None:
    text = "« Va bouffer la **** », a-t-il dit, et #COVID__19 **progresse**."
    assert cleanup.clean(text) == "« Va bouffer la **** », a-t-il dit, et #COVID__19 progresse."


def test_has_url_is_the_output_rule() -> None:
    assert cleanup.has_url("Voir https://youtu.be/abc pour plus.")
    assert cleanup.has_url("Le site www.framasoft.org")
    assert cleanup.has_url("Détails sur framablog.org/2025/05/18/la-reconnaissance.")
    assert not cleanup.has_url("Le site framamia.org présente l'association.")
    assert not cleanup.has_url("Il roulait à 130 km/h sur l'A7.")


PIECES = list("ab é\n<>/[]()!*_~#:.-»&;") + ["http://x.fr ", "Partager", "**", "<b>", "Lire aussi", "Une phrase ici."]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_clean_is_idempotent_and_normalized(pieces: list[str]) -> None:
    text = "".join(pieces)
    once = cleanup.clean(normalize(text))
    assert cleanup.clean(once) == once
    assert normalize(once) == once


@pytest.mark.skipif(not TRAIN.exists(), reason="OrangeSum train split not present")
def test_french_news_is_left_alone() -> None:
    """OrangeSum train articles (whitespace-normalized prose): nothing but inline URLs and
    paired emphasis marks may change; no word of the prose goes."""
    changed = 0
    with gzip.open(TRAIN, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i == 2000:
                break
            doc = json.loads(line)["document"]
            cleaned = cleanup.clean(doc)
            if cleaned != doc:
                changed += 1
                assert "http" in doc or "www." in doc or "**" in doc or "__" in doc, doc[:200]
                assert len(cleaned) > 0.8 * len(doc)
    assert changed < 20


# -- in the pipeline (a recording stand-in for the model: the GGUF is hashed, never loaded) --

class _Recorder:
    n_ctx_train, has_chat_template = 4096, False

    def __init__(self, reply: str) -> None:
        self.reply, self.prompts = reply, []

    def count_text(self, text: str) -> int:
        return len(text) // 4 + 1

    def count_prompt(self, prompt) -> int:  # type: ignore[no-untyped-def]
        return self.count_text(prompt.text or "")

    def generate(self, prompt, settings, on_text=None):  # type: ignore[no-untyped-def]
        from summarize.backends import Generation

        self.prompts.append(prompt.text)
        return Generation(text=self.reply, tokens_in=10, tokens_out=10, seconds=0.0, finish="stop")

    def close(self) -> None:
        pass


def test_the_model_sees_the_cleaned_text_and_the_cache_key_names_the_rules(tmp_path: Path) -> None:
    from summarize.reading.text import sha256_text

    raw = seed("004")
    backend = _Recorder("L'auteur défend une collectivisation de l'IA plutôt que son rejet en bloc par la gauche.")
    s = summarizer.Summarizer("gemma3-270m", cache_dir=str(tmp_path), backend=backend, length="medium")
    result = s.summarize_text(raw, source="004.txt")
    assert "youtu" not in backend.prompts[0] and "Plus d'infos" not in backend.prompts[0]
    assert backend.prompts[0].count("Or, la position matérialiste a toujours été") == 1  # repeat dropped
    assert result.doc_sha256 == sha256_text(raw)  # the document's identity is the text as read
    assert result.plan["cleanup"]["dropped_lines"] == 10
    assert s.summarize_text(raw, source="004.txt").cache_hit
    # A summary cached under other rules (before the clean-up existed) is not served.
    old = summarizer.TEXT_RULES
    try:
        summarizer.TEXT_RULES = "none"
        assert not s.summarize_text(raw, source="004.txt").cache_hit
    finally:
        summarizer.TEXT_RULES = old
    s.close()


def test_a_copied_url_or_english_sentence_never_reaches_the_summary(tmp_path: Path) -> None:
    reply = ("L'auteur défend une collectivisation de l'IA. Plus d'infos sur https://youtu.be/abc. "
             "The open source scene around LLMs is very active and has won many battles.")
    backend = _Recorder(reply)
    s = summarizer.Summarizer("gemma3-270m", use_cache=False, backend=backend, length="medium")
    result = s.summarize_text(seed("004"), source="004.txt")
    assert result.summary.startswith("L’auteur défend une collectivisation de l’IA.")
    assert not guards.has_url(result.summary) and "open source scene" not in result.summary
    assert result.stages[0]["dropped_sentences"] == 2
