"""Drafts and their consensus (quality/consensus.py): the pure choice, the settings that
carry it, and the real model making and choosing drafts."""
from __future__ import annotations

import pytest

from summarize import prompts
from summarize.backends import GenSettings
from summarize.quality import consensus
from summarize.summarizer import Summarizer

ARTICLE = ("La mairie de Rennes a décidé lundi de rendre les bus gratuits le samedi à partir de janvier. "
           "La mesure coûtera deux millions d'euros par an, financés par le budget des transports. "
           "Les commerçants du centre-ville saluent une décision attendue depuis longtemps, tandis que "
           "l'opposition municipale dénonce une dépense qui pèsera sur les impôts locaux. "
           "La ville compte sur une hausse de la fréquentation des bus de dix pour cent la première année.")


def test_the_draft_most_drafts_agree_with_is_chosen() -> None:
    drafts = ["Les bus de Rennes seront gratuits le samedi dès janvier.",
              "Rennes rend ses bus gratuits le samedi à partir de janvier.",
              "Le maire a inauguré une piscine olympique.",  # the odd one out
              "Les bus seront gratuits le samedi à Rennes dès janvier."]
    assert consensus.choose(drafts, drafts) != 2
    # The odd draft alone passing: it is the only choice, whatever the evidence says.
    assert consensus.choose([drafts[2]], drafts) == 0
    # Agreement is symmetric in the evidence and never counts a draft against itself.
    alone = consensus.agreement(drafts[0], [drafts[0]])
    assert alone == pytest.approx(2.0)
    assert consensus.agreement(drafts[0], drafts[1:]) > consensus.agreement(drafts[2], [drafts[0], *drafts[3:]])


def test_ties_keep_the_first_draft_and_nothing_to_choose_is_an_error() -> None:
    same = ["Une phrase.", "Une phrase."]
    assert consensus.choose(same, same) == 0
    assert consensus.choose(["a b", "c d"], []) == 0  # no evidence: every score 0, the greedy one stays
    with pytest.raises(ValueError):
        consensus.choose([], ["x"])


def test_drafts_are_in_the_cache_key_only_when_more_than_one() -> None:
    assert "drafts" not in GenSettings().cache_id() and "draft_temperature" not in GenSettings().cache_id()
    assert GenSettings(drafts=1, draft_temperature=0.9).cache_id() == GenSettings().cache_id()
    assert GenSettings(drafts=4).cache_id() != GenSettings().cache_id()
    assert GenSettings(drafts=4, draft_temperature=0.7).cache_id() != GenSettings(drafts=4).cache_id()


def test_the_prompts_name_the_drafts_per_length() -> None:
    base, tuned = prompts.load(), prompts.load().tuned()
    assert [base.drafts(n) for n in ("short", "medium", "long")] == [1, 1, 1]
    assert tuned.drafts("medium") == tuned.drafts("long") == 1
    assert base.with_length("short", drafts=4).drafts("short") == 4
    assert base.with_length("short", drafts=0).drafts("short") == 1  # at least the greedy one


@pytest.mark.slow
def test_sample_makes_seeded_drafts_that_differ(gemma_backend) -> None:
    """The backend's drafts: n texts of one prompt, decoded together, the same every run; the
    prompt counted once."""
    prompt = prompts.load().render("single", ARTICLE, chat=False, length="short")
    settings = GenSettings(max_tokens=40, temperature=0.7)
    first = gemma_backend.sample(prompt, settings, 4)
    again = gemma_backend.sample(prompt, settings, 4)
    assert [g.text for g in first] == [g.text for g in again]
    assert len({g.text for g in first}) >= 3  # sampled, not four copies of one text
    assert first[0].tokens_in > 100 and [g.tokens_in for g in first[1:]] == [0, 0, 0]
    assert all(g.tokens_out > 0 for g in first)


@pytest.mark.slow
def test_a_summarizer_with_drafts_chooses_one_that_passed_and_records_it(tmp_path) -> None:
    one = Summarizer("gemma3-270m", cache_dir=str(tmp_path / "a"), length="short")
    drafted = Summarizer("gemma3-270m", cache_dir=str(tmp_path / "b"), length="short")
    drafted.prompts = drafted.prompts.with_length("short", drafts=5)
    assert drafted.settings("short").drafts == 5
    plain = one.summarize_text(ARTICLE)
    result = drafted.summarize_text(ARTICLE)
    stage = result.stages[0]
    assert "drafts" not in plain.stages[0]
    assert stage["drafts"]["made"] == 5 and 1 <= stage["drafts"]["passing"] <= 5
    assert result.method == "model" and result.summary.strip()
    assert result.tokens_out > plain.tokens_out  # the drafts' tokens are counted: what it cost
    # Deterministic: the same drafts and the same choice in a fresh summarizer, and a cache hit after.
    other = Summarizer("gemma3-270m", cache_dir=str(tmp_path / "c"), length="short")
    other.prompts = other.prompts.with_length("short", drafts=5)
    assert other.summarize_text(ARTICLE).summary == result.summary
    assert drafted.summarize_text(ARTICLE).cache_hit


@pytest.mark.slow
def test_a_batch_gives_the_drafts_one_at_a_time_gives(tmp_path) -> None:
    """Batch jobs decode first attempts together (prefetch), then each document's drafts in the
    same multi-sequence context: the summaries are those of documents summarized one by one."""
    texts = [ARTICLE, ARTICLE.replace("Rennes", "Nantes").replace("samedi", "dimanche")]
    alone = Summarizer("gemma3-270m", cache_dir=str(tmp_path / "a"), length="short")
    batch = Summarizer("gemma3-270m", cache_dir=str(tmp_path / "b"), length="short")
    for s in (alone, batch):
        s.prompts = s.prompts.with_length("short", drafts=3)
    expected = [alone.summarize_text(t).summary for t in texts]
    batch.prefetch(texts)
    assert [batch.summarize_text(t).summary for t in texts] == expected
