"""Token-exact chunking (issue 3): property tests with both embedded models' tokenizers."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summarize.chunking import chunk_text, sentence_ends

FRENCH_WORDS = ["M.", "Dupont", "a", "dit", "p.", "ex.", "3,5", "%", "l’IA", "«", "»", "été", "Œuvre",
                "n°", "12", "000", "J.-C.", "etc.", "qu’il", "aujourd’hui", "coût", "énergie", "modèle"]
word = st.one_of(st.sampled_from(FRENCH_WORDS), st.text(min_size=1, max_size=12))
sentence = st.tuples(st.lists(word, min_size=1, max_size=25).map(" ".join), st.sampled_from(".!?…")).map("".join)
paragraph = st.lists(sentence, min_size=1, max_size=8).map(" ".join)
document = st.lists(paragraph, min_size=1, max_size=6).map("\n\n".join)
LONG_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàç", min_size=200, max_size=600)

COMMON = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(text: str, budget: int, count) -> None:
    chunks = chunk_text(text, budget, count)
    assert "".join(c.text for c in chunks) == text  # every character, in order, exactly once
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for prev, nxt in zip(chunks, chunks[1:]):
        assert prev.end == nxt.start
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.tokens == count(c.text) <= budget


@pytest.mark.parametrize("which", ["gemma_backend", "smollm_backend"])
def test_chunks_cover_text_fit_budget_and_keep_order(which, request):
    count = request.getfixturevalue(which).count_text

    @COMMON
    @given(text=st.one_of(document, st.text(min_size=1, max_size=1500)), budget=st.integers(8, 300))
    def prop(text: str, budget: int) -> None:
        _check(text, budget, count)

    prop()


@pytest.mark.parametrize("which", ["gemma_backend", "smollm_backend"])
def test_a_single_overlong_word_is_the_only_thing_split_inside(which, request):
    count = request.getfixturevalue(which).count_text

    @COMMON
    @given(long=LONG_WORD, budget=st.integers(10, 40))
    def prop(long: str, budget: int) -> None:
        text = f"Début du texte. {long} fin."
        _check(text, budget, count)

    prop()


def test_boundaries_prefer_paragraphs_then_sentences(gemma_backend):
    count = gemma_backend.count_text
    para = "Le modèle tourne en local sur la machine de l’utilisateur. " * 6
    text = "\n\n".join([para.strip()] * 6)
    budget = count(para) * 2 + 5
    chunks = chunk_text(text, budget, count)
    assert len(chunks) >= 3
    for c in chunks[:-1]:
        assert c.text.endswith("\n\n")  # cut at paragraph ends, never mid-sentence


def test_never_mid_word_when_words_fit(smollm_backend):
    count = smollm_backend.count_text
    text = " ".join(["transformation"] * 400)
    for c in chunk_text(text, 50, count):
        assert c.text.endswith(" ") or c.end == len(text)


def test_french_sentence_ends_respect_abbreviations():
    text = ("M. Dupont, p. ex. le maire, a parlé à J. Martin. Le taux est de 3,5 %. "
            "Est-ce vrai ? Oui ! « Bien sûr. » Ensuite vient la fin.")
    cuts = sentence_ends(text)
    pieces = [text[i:j].strip() for i, j in zip([0] + cuts, cuts + [len(text)])]
    assert pieces == ["M. Dupont, p. ex. le maire, a parlé à J. Martin.", "Le taux est de 3,5 %.",
                      "Est-ce vrai ?", "Oui !", "« Bien sûr. »", "Ensuite vient la fin."]
