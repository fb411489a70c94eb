"""What a summary sentence asserts, as comparable tokens: content stems, numbers, names, dates,
negated verbs. Numbers, dates and accent folding are the guards' own (guards.py), so the
guard that rejects an invented number and the attribution that looks for it agree."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .guards import CALENDAR_WORDS, NUMBER, STOP_WORDS, fold_word, norm_number  # one definition of each, shared

# Words that open a sentence with a capital without being names: function words, and the
# adverbs and prepositions a news abstract starts with. Folded.
FUNCTION_WORDS = frozenset(fold_word(w) for w in """le la les l un une des du de d au aux ce cet cette ces c ça ca son sa ses
    leur leurs mon ma mes ton ta tes notre nos votre vos il ils elle elles on nous vous je tu j y en ne n se s qui que
    qu quoi dont où ou et mais donc or ni car si s selon après avant depuis pendant lors face alors ainsi encore
    aussi déjà désormais enfin puis quand comme dès entre sur sous dans par pour avec sans chez vers contre parmi
    malgré outre hors tout tous toute toutes plusieurs certains certaines chaque aucun aucune autre autres même
    cela ceci celui celle ceux celles voici voilà oui non là ici plus moins très trop bien mal peu beaucoup
    seulement toujours jamais rien personne près loin afin tandis lorsque puisque parce cependant pourtant
    néanmoins toutefois aujourd hier demain mais est sont a ont était été être avoir fait""".split())
# What a summary says about the document rather than what the document says: « L'auteur
# défend… », « L'article évoque… ». Not content to find in the source. Folded.
_META = frozenset(fold_word(w) for w in """auteur auteure autrice article articles document documents texte textes résumé
    présentation conférence conférencier intervenant intervenante orateur oratrice exposé diaporama diapositive
    diapositives défend défendent explique expliquent aborde abordent évoque évoquent présente présentent décrit
    décrivent souligne soulignent rappelle rappellent insiste montre montrent""".split())
# Determiners and clitics between « ne » and its verb: « ne l'a pas », « n'y est plus ».
_CLITICS = frozenset("le la les l lui leur y en se s me m te t nous vous".split())
_ARTICLES = frozenset("le la les l un une des du de d au aux".split())
_NEG_END = frozenset("pas plus jamais point guère rien personne aucun aucune nullement".split())
_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W\d_]+)*|\d[\d\s.,]*\d|\d", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
STEM = 5  # letters kept of a folded content word: « numériques » ~ « numérique », « rejet » ~ « rejeter »
MIN_CONTENT = 4  # shorter words are function words or too ambiguous to count


def fold(word: str) -> str:
    return fold_word(word)


def stem(folded: str) -> str:
    """A folded word's stem: without a plural « s » / « x » and then a final « e » (« jugés »,
    « jugée », « juge » are one word), cut to STEM letters."""
    if len(folded) > MIN_CONTENT and folded[-1] in "sx":
        folded = folded[:-1]
    if len(folded) > MIN_CONTENT and folded[-1] == "e":
        folded = folded[:-1]
    return folded[:STEM]


def numbers(text: str) -> set[str]:
    """Numbers, digits only (« 2.600 », « 2 600 » and « 2600 » are one number)."""
    return {norm_number(m) for m in NUMBER.findall(text)}


def words(text: str) -> list[str]:
    """Letter-only words as written (case kept): « l'équipage » gives « l », « équipage »."""
    return _WORD.findall(text)


def folded_words(text: str) -> set[str]:
    return {fold(w) for w in words(text)}


def stems(text: str) -> set[str]:
    """Content words, folded and cut to STEM letters; function words and short words left out."""
    out = set()
    for w in words(text):
        f = fold(w)
        if len(f) >= MIN_CONTENT and w.lower() not in STOP_WORDS and f not in FUNCTION_WORDS and f not in _META:
            out.add(stem(f))
    return out


def names(sentence: str, known_lower: set[str] | None = None, known_names: set[str] = frozenset()) -> set[str]:
    """Folded capitalized words: names, places, organisations, acronyms. The sentence's first
    word is a name only when the document writes it capitalized and never in lowercase
    (« Selon » is a word, « Macron » a name, « Contacté » unknown: a content word only);
    ``known_lower`` and ``known_names`` hold those words. Without them, every capital counts."""
    out = set()
    for i, w in enumerate(words(sentence)):
        if not w[0].isupper() or len(w) < 2:
            continue
        f = fold(w)
        if f in FUNCTION_WORDS or f in CALENDAR_WORDS:
            continue
        if i == 0 and known_lower is not None and (f in known_lower or f not in known_names):
            continue  # a first word is a name only when the document writes it as one
        out.add(f)
    return out


def dates(text: str) -> set[str]:
    """Weekdays and months (years are numbers)."""
    return {f for f in folded_words(text) if f in CALENDAR_WORDS}


def lowercase_words(text: str) -> set[str]:
    """Folded words the text writes in lowercase somewhere (so they are words, not names)."""
    return {fold(w) for w in words(text) if w[0].islower()}


def capitalized_words(text: str) -> set[str]:
    """Folded words the text writes capitalized somewhere (names, and sentences' first words)."""
    return {fold(w) for w in words(text) if w[0].isupper()}


def negated(text: str) -> set[tuple[str, str, str]]:
    """(verb, word after the particle, first content word after it) of each negated verb:
    « n'a pas pu établir » → (« a », « pu », « etablir »). The words after tell this verb
    from every other « a » of the text; the particle may come a few words later (« ne s'est
    pour le moment pas prononcé »)."""
    toks = _folded_tokens(text)
    out = set()
    for i, t in enumerate(toks):
        if t not in ("ne", "n"):
            continue
        j = i + 1
        while j < len(toks) and toks[j] in _CLITICS:
            j += 1
        end = next((k for k in range(j + 1, min(j + 5, len(toks))) if toks[k] in _NEG_END), None)
        if j < len(toks) and end is not None:
            rest = toks[end + 1:]
            content = next((t for t in rest if len(t) >= 3 and t not in _ARTICLES), "")
            out.add((toks[j], rest[0] if rest else "", content))
    return out


_CUES = frozenset("ne n pas jamais aucun aucune aucuns sans ni non rien nullement guere".split())


def denied_near(text: str, word: str, window: int = 6) -> bool | None:
    """Whether ``word`` (folded; a stem matches its 6 first letters) is under a negation in
    ``text``: a cue within ``window`` tokens before it or 2 after. None when it is not there."""
    toks = _folded_tokens(text)
    hits = [i for i, t in enumerate(toks) if t == word or (len(word) >= MIN_CONTENT and stem(t) == stem(word))]
    if not hits:
        return None
    return all(any(_is_cue(t) for t in toks[max(0, i - window): i + 3]) for i in hits)


def _is_cue(token: str) -> bool:
    return token in _CUES or token.startswith(("refus", "dement", "nie"))


def negated_clauses(text: str, window: int = 5) -> list[set[str]]:
    """For each « ne … pas » (« n'… jamais », « ne pas » + infinitive) of the text, the content
    stems around it: what the negation bears on."""
    toks = _folded_tokens(text)
    out = []
    for i, t in enumerate(toks):
        if t not in ("ne", "n"):
            continue
        end = next((k for k in range(i + 1, min(i + 6, len(toks))) if toks[k] in _NEG_END), None)
        if end is None:
            continue
        near = toks[max(0, i - window): end + window + 1]
        out.append({stem(w) for w in near if len(w) >= MIN_CONTENT and w not in FUNCTION_WORDS and not w.isdigit()})
    return out


def denies(text: str, stems_: set[str], window: int = 6) -> bool:
    """Whether the text has a negation cue within ``window`` tokens of one of these stems."""
    toks = _folded_tokens(text)
    cues = [i for i, t in enumerate(toks) if _is_cue(t)]
    if not cues:
        return False
    return any(abs(i - c) <= window for i, t in enumerate(toks) if stem(t) in stems_ and len(t) >= MIN_CONTENT
               for c in cues)


def _folded_tokens(text: str) -> list[str]:
    return [p for t in _TOKEN.findall(text.replace("’", "'")) for p in fold(t).split("'") if p]


def plain_pairs(text: str) -> set[tuple[str, str]]:
    """Every pair of adjacent folded tokens: « a été » is there when the text affirms it."""
    toks = _folded_tokens(text)
    return set(zip(toks, toks[1:]))


_QUOTATION = re.compile(r"«\s*([^»]+?)\s*»|“([^”]+)”|\"([^\"]+)\"")


def quotations(sentence: str, least: int = 2) -> list[set[str]]:
    """The content stems of each quotation of the sentence (« … », “ … ”, "…") that has at
    least ``least`` of them: a word or two in quotes is a term, not a quotation."""
    out = []
    for m in _QUOTATION.finditer(sentence):
        found = stems(next(g for g in m.groups() if g))
        if len(found) >= least:
            out.append(found)
    return out


@dataclass(frozen=True)
class Claims:
    """What one sentence says that its sources must hold."""

    stems: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]
    dates: frozenset[str]
    negated: frozenset[tuple[str, str, str]]


def claims(sentence: str, known_lower: set[str] | None = None, known_names: set[str] = frozenset()) -> Claims:
    return Claims(frozenset(stems(sentence)), frozenset(numbers(sentence)),
                  frozenset(names(sentence, known_lower, known_names)),
                  frozenset(dates(sentence)), frozenset(negated(sentence)))
