"""Clean-up of a document's text before the model sees it: drop what a reader skips.

Scraped pages, slide decks and transcripts carry lines nobody reads as content: a URL
alone on a line, image lines, page furniture (« Permalien », « Partager », « Lire aussi »,
breadcrumbs, cookie and comment-form lines), literal HTML tags, a lead repeated verbatim.
A 270M model copies them into its summary, and the extractive fallback picks them
(issue 11). This pure function removes them, line by line:

* inline: literal HTML tags (« <b> », « </i> », « <br> ») and entities, Markdown images,
  emphasis marks and struck text; links keep their text; bare URLs are removed, and a line
  that was only a caption for its URL (« Plus d'infos : https://… ») goes with it;
* lines: empty after that, no letter or digit (« ➔ », « “> »), image lines (« [image] »,
  « photo.jpg »), template residue (« vid{00bd…} »), hashtag lines, page furniture and
  breadcrumbs — only SHORT lines that match, so a sentence that merely contains « partager »
  stays — and the headline that follows a « Lire aussi » line (a link to another article);
* repeats: a content line (≥ 6 words) seen before, verbatim, is dropped; the first stays.
  Short lines may repeat (speaker labels, table cells, slide titles).

Never drops a content sentence: every rule needs a short line or an exact repeat, and the
result falls back to the input when nothing would be left. ``VERSION`` names these rules;
it is part of every cache key (summarizer.py), so a summary of uncleaned text is never served.
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

VERSION = "clean-1"

FURNITURE_MAX_WORDS = 8  # a furniture line is short: « Partager sur Facebook », « — Permalien »
TEASER_MAX_WORDS = 30  # the headline after « Lire aussi »
REPEAT_MIN_WORDS = 6  # shorter lines may repeat (labels, table cells, slide titles)

_TAGS = ("a|abbr|b|big|blockquote|br|center|cite|code|del|div|em|font|h[1-6]|hr|i|img|ins|kbd|li|mark|ol|p|pre"
         "|q|s|small|span|strike|strong|sub|sup|table|tbody|td|th|thead|tr|tt|u|ul")
_HTML_TAG = re.compile(rf"</?(?:{_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{2,5}|#x[0-9a-fA-F]{2,4});")
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_AUTOLINK = re.compile(r"<(?:https?|ftp)://[^>\s]+>", re.IGNORECASE)
# A bare URL; its last character is not the punctuation of the sentence around it.
URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>«»\"]*[^\s<>«»\".,;:!?)\]]", re.IGNORECASE)
# In an output: a URL above, or a domain followed by a path (« site.fr/page »). A domain
# named in prose (« le site framamia.org ») is a name, not a URL.
_BARE_URL = re.compile(rf"{URL.pattern}|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{{2,6}}/[^\s]*", re.IGNORECASE)
_STRUCK = re.compile(r"~~[^~\n]+~~")
# Paired emphasis marks around text (« **faits** »); censored words (« m**** ») keep theirs.
_EMPHASIS = re.compile(r"(?<![\w*])\*\*([^*\s](?:[^*\n]*[^*\s])?)\*\*(?![\w*])"
                       r"|(?<![\w_])__([^_\s](?:[^_\n]*[^_\s])?)__(?![\w_])")
# A bold mark left unpaired (bold over several lines, a broken source): it touches a word
# on one side only. Runs of 3+ stars (« m**** ») are not marks.
_INLINE_HINT = re.compile(r"[<&\[*_~]|://|www\.", re.IGNORECASE)
_EMPHASIS_EDGE = re.compile(r"(?<=[^\s*])\*\*(?=\s|$)|(?:^|(?<=\s))\*\*(?=[^\s*])")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_IMAGE_LINE = re.compile(
    r"^[\[(]?\s*(?:image|img|photo|illustration|figure|vid[ée]o|video)\s*(?:\d+)?\s*[\])]?$"
    r"|^(?:image|photo|illustration)\s*:\s*\S+\.(?:png|jpe?g|gif|webp|svg|bmp|tiff?|avif)$"
    r"|^[\w./-]+\.(?:png|jpe?g|gif|webp|svg|bmp|tiff?|avif)(?:\s*\(\d+\s*[x×]\s*\d+\))?$", re.IGNORECASE)
# Template residue: one "word" with braces or a long hex run (« vid{00bdc0b4…} »).
_RESIDUE = re.compile(r"^\S*(?:\{\S*\}|[0-9a-f]{24,})\S*$", re.IGNORECASE)
_BREADCRUMB_SEP = re.compile(r"\s+[»›>|/]\s+")
_BREADCRUMB_ROOT = {"accueil", "home", "actualites", "actualite", "news", "a la une", "toute l'actualite"}
_LIST_ITEM = re.compile(r"^(?:[-*•+]|\d{1,2}[.)])\s")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
# A photo credit: « FABRICE COFFRINI / AFP via Getty Images », « © Statista 2025 », « Crédit photo : … ».
_CREDIT = re.compile(r"©|\bvia getty images\b|^cr[ée]dits?\b|^(?:photo|illustration)\s*:"
                     r"|/\s*(?:afp|reuters|ap|getty images|shutterstock|maxppp|sipa|hans lucas)\b", re.IGNORECASE)
CREDIT_MAX_WORDS = 10
# A consent banner: an order to click plus the vocabulary of consent (three distinct terms).
_CLICK = re.compile(r"\b(?:cliquez|cliquer|click)\b")
_CONSENT_TERMS = ("cookie", "consentement", "consent", "donnees personnelles", "traceurs", "rgpd", "gdpr",
                  "confidentialite", "privacy", "tiers", "third-party", "revocation", "accepter", "accept")

# Page furniture, matched against the whole (folded, lowercased) short line. French first.
_FURNITURE = re.compile(r"""^(?:
    permalien | permalink | lien\ permanent
  | (?:partager|partagez|share|tweeter|tweet|envoyer|imprimer|print|e-?mail|copier\ le\ lien)
      (?:[\ '](?:cet|cette|l|la|le|this|sur|on|par|via|avec|article|page|post|story|lien|link|e-?mail
              |facebook|twitter|x|linkedin|whatsapp|messenger|pinterest|reddit|mastodon|bluesky))*
  | (?:a\ )?lire\ (?:aussi|egalement|la\ suite|plus|ensuite) | voir\ (?:aussi|plus|la\ suite)
  | read\ (?:more|also|next) | see\ also | related(?:\ articles?|\ posts?)?
  | sur\ le\ meme\ sujet | articles?\ (?:similaires|lies|connexes) | dans\ la\ meme\ rubrique
  | vous\ aimerez\ aussi | you\ may\ also\ like | recommande(?:s)?\ pour\ vous | les\ plus\ lus
  | (?:\d+\ )?(?:commentaires?|reactions?|comments)(?:\ \(\d+\))? | 1\ comment
  | (?:laisser|ajouter|ecrire|poster)\ un\ commentaire | leave\ a\ (?:comment|reply) | repondre | reply
  | menu | accueil | home | rechercher | search | retour(?:\ en\ haut| a\ l.accueil)? | haut\ de\ (?:la\ )?page
  | back\ to\ top | fermer | close | suivant | precedent | next | previous
  | en\ savoir\ plus | learn\ more | lire\ la\ suite
  | (?:essayer|tester|acheter|commencer|try|buy|get\ started)(?:\ (?:maintenant|gratuitement|now|for\ free))?
  | newsletter | (?:(?:s|je\ m)\ ?')?abonne(?:r|z-vous)? | subscribe | se\ connecter | connexion | log\ ?in
  | sign\ (?:in|up) | mon\ compte | inscription | s.inscrire
  | (?:nous\ )?suivre | suivez-nous(?:\ sur\ .*)? | follow\ us(?:\ on\ .*)?
  | (?:tout\ )?accepter(?:\ et\ fermer)? | (?:tout\ )?refuser | accept(?:\ all)? | reject(?:\ all)?
  | (?:parametrer|gerer|personnaliser)\ (?:les\ )?(?:cookies|traceurs|choix|preferences)
  | (?:politique\ de\ )?(?:gestion\ des\ )?cookies | politique\ de\ confidentialite | mentions\ legales
  | privacy\ policy | cookie\ (?:policy|settings)
  | publicite | sponsorise | contenu\ sponsorise | advertisement | sponsored | passer\ la\ publicite
  | contenu\ externe\ (?:non\ )?disponible | contenu\ indisponible
  | (?:mots?-cles|tags?|etiquettes?|rubriques?)(?:\ .*)?
  | pas\ maintenant | maybe\ later | not\ now
)$""", re.VERBOSE)
# Whole furniture sentences known from every WordPress page.
_FURNITURE_SENTENCE = re.compile(
    r"^(?:this site uses akismet to reduce spam|ce site utilise akismet pour reduire les indesirables)\b")
_TEASER_MARK = re.compile(r"^(?:a )?lire (?:aussi|egalement)|^voir aussi|^read (?:also|more)|^sur le meme sujet")


@dataclass(frozen=True)
class Dropped:
    line: str
    reason: str  # url image residue hashtags breadcrumb furniture credit consent teaser repeat empty


def fold(text: str) -> str:
    """Lowercase, no accents, typographic apostrophes and dashes made plain."""
    text = unicodedata.normalize("NFD", text.lower().replace("’", "'").replace("–", "-").replace("—", "-"))
    return "".join(c for c in text if not unicodedata.combining(c))


def _inline(line: str) -> tuple[str, bool]:
    """The line without tags, images, emphasis and bare URLs; True when a URL was removed."""
    if not _INLINE_HINT.search(line):
        return line, False  # most lines: nothing inline to remove
    if _ENTITY.search(line):
        line = html.unescape(line).replace("\u00a0", " ")
    line = _HTML_TAG.sub(" ", line)
    line = _MD_IMAGE.sub(" ", line)
    line = _MD_LINK.sub(r"\1", line)
    had_url = bool(_AUTOLINK.search(line) or URL.search(line))
    line = URL.sub(" ", _AUTOLINK.sub(" ", line))
    line = _EMPHASIS.sub(lambda m: m.group(1) or m.group(2), _STRUCK.sub(" ", line))
    line = _EMPHASIS_EDGE.sub("", line)
    line = re.sub(r"[ \t]+", " ", line).strip()
    if had_url:  # empty brackets around a removed URL, a space left before a period
        line = re.sub(r"\s*(?:\(\s*\)|\[\s*\])", "", line)
        line = re.sub(r"\s*[:,;]?\s+(?=[.,)](?:\s|$))", "", line)
    return line, had_url


def _core(line: str) -> str:
    """The folded line without leading and trailing marks: « — Permalien » → « permalien »."""
    return " ".join(_EDGES.sub("", fold(line)).split())


def _is_furniture(line: str, core: str) -> bool:
    if _LIST_ITEM.match(line):
        return False  # « - Refuser » in a list is content (refuser, réduire, réutiliser…)
    if _FURNITURE_SENTENCE.match(core):
        return True
    return len(core.split()) <= FURNITURE_MAX_WORDS and bool(_FURNITURE.match(core))


def _is_breadcrumb(line: str) -> bool:
    """« Accueil » Économie » Titre », « TOUTE L'ACTUALITÉ / DATACENTER / CALCUL »: a root
    section first, or (with » › >) only short parts; never a line that ends a sentence."""
    parts = _BREADCRUMB_SEP.split(line)
    if len(parts) < 3 or line.rstrip().endswith((".", "!", "?")):
        return False
    if _core(parts[0]) in _BREADCRUMB_ROOT:
        return True
    arrows = not re.search(r"\s[|/]\s", line) and not _LIST_ITEM.match(line)
    return arrows and all(len(p.split()) <= 4 and p.strip()[:1].isupper() for p in parts)


def _is_credit(line: str) -> bool:
    return len(line.split()) <= CREDIT_MAX_WORDS and not line.endswith(".") and bool(_CREDIT.search(line))


def _is_consent(line: str) -> bool:
    if not _CLICK.search(line.lower()):
        return False
    folded = fold(line)
    return sum(t in folded for t in _CONSENT_TERMS) >= 3


def _is_hashtags(line: str) -> bool:
    toks = line.split()
    tags = sum(t.startswith("#") and len(t) > 1 for t in toks)
    return tags >= 1 and tags * 2 >= len(toks)


def _is_teaser_line(line: str, core: str) -> bool:
    """« À lire aussi : <titre d'un autre article> » on one line."""
    return bool(_TEASER_MARK.match(core)) and ":" in line and not line.endswith((".", "!", "?", "…"))


def _drop_reason(line: str, had_url: bool, core: str) -> str | None:
    """Why a line goes, or None. ``core``: the folded line when it is short enough to be
    furniture or a teaser (≤ TEASER_MAX_WORDS words), else empty (folding is the slow part)."""
    if not _LETTER_OR_DIGIT.search(line):
        return "url" if had_url else "empty"
    if had_url and (len(line.split()) <= 12 and line.endswith((":", "-", "–", "—", "→", "➔"))):
        return "url"  # the caption of a removed link: « Plus d'infos sur Sci+ : »
    if _IMAGE_LINE.match(line):
        return "image"
    if _RESIDUE.match(line):
        return "residue"
    if _is_hashtags(line):
        return "hashtags"
    if _is_breadcrumb(line):
        return "breadcrumb"
    if core and _is_furniture(line, core):
        return "furniture"
    if core and _is_teaser_line(line, core):
        return "teaser"
    if _is_credit(line):
        return "credit"
    if _is_consent(line):
        return "consent"
    return None


def clean_lines(text: str) -> tuple[str, list[Dropped]]:
    """The cleaned text and what was dropped, in order (for tests and --verbose)."""
    out: list[str] = []
    dropped: list[Dropped] = []
    seen: set[str] = set()
    teaser_next = False
    for raw in text.split("\n"):
        if not raw.strip():
            out.append("")
            continue
        line, had_url = _inline(raw)
        n_words = len(line.split())
        core = _core(line) if n_words <= TEASER_MAX_WORDS else ""
        reason = _drop_reason(line, had_url, core) if line else ("url" if had_url else "image")
        if reason is None and teaser_next and core and not line.endswith((".", "!", "?", "…")):
            reason = "teaser"  # the headline of another article, after « Lire aussi »
        if reason is None and n_words >= REPEAT_MIN_WORDS:
            key = " ".join(line.split())
            if key in seen:
                reason = "repeat"
            seen.add(key)
        if reason is not None:
            dropped.append(Dropped(raw.strip(), reason))
            # « Lire aussi » alone announces the next line; « Lire aussi : <titre> » took its title along.
            teaser_next = reason == "furniture" and bool(_TEASER_MARK.match(core)) and len(core.split()) <= 3
            continue
        teaser_next = False
        out.append(line)
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    if not _LETTER_OR_DIGIT.search(cleaned):
        return text, []  # nothing a reader would read: keep the text rather than summarize nothing
    return cleaned, dropped


def has_url(text: str) -> bool:
    """Whether a text (a summary, a sentence) contains a bare URL: the output rule of issue 11."""
    return bool(_BARE_URL.search(text))


def clean(text: str) -> str:
    """The text a reader reads (see the module docstring). Pure; idempotent."""
    return clean_lines(text)[0]
