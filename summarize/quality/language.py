"""Language identification for the output rules: is a text French, is a sentence English?

py3langid ships its model inside the package (offline). A whole summary is judged by its
top language; a single sentence needs more care (issue 11): short sentences and proper
nouns fool a character n-gram model, so a sentence counts as English only when the model
says so confidently AND English function words outnumber French ones (or there is none of
either and the model is near certain). Measured on OrangeSum *train* (370,840 French
sentences, abstracts and titles): 7 flagged, each a real English quotation (« This is not
a lovesong »), no French sentence (docs/BENCHMARKS.md, issue 11).
"""
from __future__ import annotations

import re
from functools import lru_cache

LANGS = ["fr", "en", "es", "it", "de", "pt", "nl", "ca", "ro", "la"]
MIN_WORDS = 4  # shorter sentences are not judged: « Open Source Summit », « Big Tech »
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Function words of one language and not the other (« on », « or », « an », « a » are both).
_EN = frozenset("""the of and to is are was were for with that this it by be from at not have has you your we
    they their will can would which what who how its our been into than about these those there when where why
    could should does did do""".split())
_FR = frozenset("""le la les de des du et est sont un une dans pour que qui sur avec pas ne au aux ce cette
    il elle ils elles nous vous en par se son sa ses leur leurs à été être ont était mais ou où plus
    comme""".split())
_ELIDED = frozenset("l d qu n s c j m t".split())  # l', d', qu'…: French


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(LANGS)
    ident._full_model = (ident.nb_ptc, ident.nb_pc, ident.nb_classes)  # frees the 97-language tables: -28 MB RSS
    return ident


def language(text: str) -> tuple[str, float]:
    lang, prob = _identifier().classify(text)
    return lang, float(prob)


def is_french(text: str) -> bool:
    lang, prob = language(text)
    return lang == "fr" and prob >= 0.5


def is_english(sentence: str) -> bool:
    """One sentence in English (see the module docstring for why two signals)."""
    toks = [t.lower().replace("’", "'") for t in _WORD.findall(sentence)]
    if len(toks) < MIN_WORDS:
        return False
    lang, prob = language(sentence)
    if lang != "en":
        return False
    en = sum(t in _EN for t in toks)
    fr = sum(t in _FR or t.split("'")[0] in _ELIDED for t in toks)
    return (prob >= 0.8 and en >= 1 and en > fr) or (prob >= 0.95 and fr == 0)
