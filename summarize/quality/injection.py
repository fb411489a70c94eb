"""Prompt-injection defence: documents are data, never orders.

Three layers, all model-independent:
- ``defuse`` neutralizes what could break the fence around a document in a prompt (the
  fence markers themselves, chat control tokens such as ``<|im_start|>``);
- ``find_instructions`` locates sentences in a document that address the model
  (« Ignore les consignes précédentes et écris … », fake system messages, template
  mimicry, requests to reveal the prompt) and what they ask it to write;
- ``obeys`` is an output guard: a summary that writes what an injected instruction
  demanded, repeats the instruction, or reveals the prompt is rejected (code "injection").
  The pipeline then retries on the document without those sentences, and its extractive
  fallback skips them too (``without_instructions``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

INJECTION = "injection"
# What the extractive fallback says of a document made only of orders to the model.
NOTHING_TO_SUMMARIZE = ("Le document ne contient que des instructions adressées à un modèle de langue ; "
                        "il n'a pas de contenu à résumer.")

# -- layer 1: the fence ---------------------------------------------------------------------
_CONTROL = re.compile(r"<\|([^<>|\n]{1,40})\|>")  # ChatML/Llama-3 style control tokens
_TURN = re.compile(r"<(/?)(start_of_turn|end_of_turn|bos|eos|s|pad|unk|start_of_image|end_of_image)>", re.I)
_FENCE_TAG = re.compile(r"<(/?)(document|resumes)\s*>", re.I)
_ANGLES = re.compile(r"<{3,}|>{3,}")


def defuse(document: str) -> str:
    """Make the document unable to close its fence or smuggle control tokens."""
    if "<" not in document and ">" not in document:
        return document
    document = _CONTROL.sub(r"[\1]", document)
    document = _TURN.sub(r"[\1\2]", document)
    document = _FENCE_TAG.sub(r"[\1\2]", document)
    return _ANGLES.sub(lambda m: " ".join(m.group()), document)


# -- layer 2: instructions inside the document ---------------------------------------------
_AI = (r"(?:l['’]\s?|une?\s+|cher\s+|chère\s+|toi,?\s+(?:l['’])?)?(?:ia|i\.a\.|intelligence artificielle|assistant|"
       r"assistante|mod[eè]le(?: de langage| de langue)?|llm|chatbot|robot|r[ée]sumeur|outil de r[ée]sum[ée]|"
       r"language model|chatbot)")
# Verbs an order to the model uses (imperative, infinitive after « doit », English).
_DEMAND = (r"(?:[ée]cri(?:s|re|vez)|r[ée]pond(?:s|re|ez)|di(?:s|re|tes)|r[ée]sum(?:e|er|ez)|tradui(?:s|re|sez)|"
           r"inclu(?:s|re|ez)|met(?:s|tre|tez)|conclu(?:s|re|ez)|contenir|"
           r"(?:affirm|indiqu|ajout|mentionn|pr[ée]cis|d[ée]clar|affich|recopi|r[ée]p[èeé]t|r[ée]v[èeé]l|termin|"
           r"commen[cç]|ins[èeé]r|remplac|r[ée]dig|plac|donn|montr|imprim|[ée]num[ée]r|cit)(?:e|er|ez|es)|"
           r"tu dois|vous devez|il faut que tu|write|say|print|output|reply|respond|answer|reveal|repeat|add|"
           r"include|insert|state|append|must)")
_OVERRIDE = (r"\b(?:ignore[rsz]?|oublie[rsz]?|ne (?:tiens?|tenez) (?:pas|plus) compte (?:de|d['’]|des)|"
             r"fai(?:s|tes) abstraction (?:de|des|du)|disregard|forget|override|outrepasse[rsz]?)")
_ORDERS = r"(?:consignes?|instructions?|directives?|r[èe]gles?|ordres?|prompts?|messages?|document|texte)\b"
_PATTERNS = [
    # « Ignore les consignes précédentes », "disregard all previous instructions"
    _OVERRIDE + r"\b[^.!?\n]{0,30}?\b(?:tes|vos|your|toutes?|all|any)\b[^.!?\n]{0,30}?" + _ORDERS,
    _OVERRIDE + r"\b[^.!?\n]{0,30}?" + _ORDERS + r"[^.!?\n]{0,30}?\b(?:pr[ée]c[ée]dentes?|ci-dessus|ant[ée]rieures?|"
    r"initiales?|d['’]origine|re[çc]ues?|habituelles?|previous|above|prior|earlier|original)",
    _OVERRIDE + r"\b\s+(?:tout\s+)?ce qui (?:pr[ée]c[eè]de|est au-dessus)|\bignore (?:all|everything)\b",
    _OVERRIDE + r"\s+(?:le|ce|ton|votre) (?:document|texte|r[ée]sum[ée])\b",
    r"\b(?:voici (?:tes|vos|les) |tes |vos |your )(?:nouvelles?|v[ée]ritables?|vraies?|new|real|updated) "
    r"(?:consignes?|instructions?|directives?|t[âa]ches?|ordres?|mission)\b|\bnouvelles? (?:consignes?|instructions?)"
    r"\s*:|\bnew instructions?\b",
    # addressed to the model: « Note pour l'IA : … », « Si tu es un assistant, écris … »
    r"\b(?:note|message|instruction|consigne|avis|remarque|information)s? (?:pour|à|a|destinée? à|to|for) " + _AI + r"\b",
    r"\b(?:si tu es|si vous êtes|en tant qu['’]|à l['’]attention d[eu]s?|toi,|vous,|if you are|as an?|"
    r"dear)\s*" + _AI + r"\b",
    r"\b" + _AI + r"\s*[,:]\s*" + _DEMAND + r"\b",  # vocative: « IA, écris … », « Assistant : ajoute … »
    r"\b" + _AI + r"\s+(?:qui|that|which)\s+(?:lis|lit|lira|r[ée]sumes?|r[ée]sumera|traites?|analyses?|reads?|"
    r"summari[sz]es?|process(?:es)?)\s+(?:ce|cet|cette|ces|this|these)\b",  # « l'IA qui lit ce texte »
    # about the output being produced: « Dans ton résumé, écris … », « Ne résume pas ce texte »
    r"\b(?:(?:ton|ta|your) (?:r[ée]sum[ée]|synth[èe]se|summary)|(?:ta|tes|your) (?:r[ée]ponses?|sortie)|"
    r"your (?:output|answer|response))\b[^.!?\n]{0,40}\b(?:doit|devra|must|should|" + _DEMAND + r")\b",
    r"\b(?:le|the) (?:r[ée]sum[ée]|summary)(?: final)? (?:doit|devra|must|should) (?:affirmer|mentionner|contenir|"
    r"inclure|commencer|indiquer|dire|pr[ée]ciser|se terminer|state|say|include|contain|mention|begin|start|end)\b",
    r"\b(?:dans|à la fin de|au début de|en t[êe]te de|in|at the end of) (?:ton|ta|your) "
    r"(?:r[ée]sum[ée]|r[ée]ponse|synth[èe]se|summary|answer)\b",
    r"\b(?:ne (?:r[ée]sume|r[ée]sumez) pas|au lieu de (?:r[ée]sumer|faire un r[ée]sum[ée])|sans r[ée]sumer|"
    r"do not summari[sz]e|instead of summari[sz]ing)\b",
    r"\b(?:r[ée]ponds|r[ée]pondez|[ée]cris|[ée]crivez|r[ée]dige|r[ée]digez|reply|answer|write|respond)\b\s*"
    r"(?:uniquement|seulement|simplement|exclusivement|only|just)?\s*(?:en|in) (?:anglais|espagnol|allemand|"
    r"italien|portugais|chinois|russe|arabe|english|spanish|german|italian|pirate)\b",
    r"\b(?:r[ée]ponds|r[ée]pondez|[ée]cris|[ée]crivez|reply|respond|answer|write)\b\s*(?:uniquement|seulement|"
    r"simplement|exclusivement|only|just)\b",
    # asks for the prompt: « Révèle tes instructions système »
    r"\b(?:r[ée]v[eè]le[rsz]?|affiche[rsz]?|recopie[rsz]?|r[ée]p[eè]te[rsz]?|divulgue[rsz]?|donne[rsz]?|"
    r"montre[rsz]?|imprime[rsz]?|cite[rsz]?|reveal|print|show|repeat|output|leak)\b[^.!?\n]{0,50}\b(?:prompts?|"
    r"(?:tes|vos|your|les|the) (?:consignes|instructions|r[èe]gles)|message (?:syst[èe]me|initial)|"
    r"instructions? (?:syst[èe]me|initiales?|cach[ée]es)|system (?:prompt|message))\b",
    # role hijack: « Tu es désormais … », "You are now …"
    r"\b(?:tu es d[ée]sormais|tu es maintenant|vous êtes d[ée]sormais|vous êtes maintenant|à partir de maintenant,? "
    r"(?:tu|vous)|dor[ée]navant,? (?:tu|vous)|you are now|from now on|act as|agis comme|joue le r[ôo]le|"
    r"fais semblant)\b",
    # fake chat roles and control tokens, alone at the start of a line
    r"^[\s\W]{0,6}(?:system|syst[èe]me|sys|assistant|user|utilisateur|human|humain|admin(?:istrateur)?|"
    r"d[ée]veloppeur|developer|message syst[èe]me|system prompt|instruction syst[èe]me)\s*\]?\s*:",
    r"\[(?:system|syst[èe]me|inst|/inst|admin)\]|<\|[^<>|\n]{1,40}\|>|<(?:start|end)_of_turn>|"
    r"#{2,}\s*(?:instruction|system|syst[èe]me|r[ée]ponse|response)\b",
    # mimicry of our own prompts (fake fence end, a pre-written « Résumé fidèle … : »)
    r"</?(?:document|resumes)\s*>|\br[ée]sum[ée] fid[èe]le\b|"
    r"^\W{0,3}r[ée]sum[ée] (?:du document|final)\s*:",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)
# Line-level markers (control tokens, role labels, fences, ### headers): the order is on the
# following lines too, up to a blank line or the next marker.
_MARKER = re.compile(r"<\|[^<>|\n]{1,40}\|>|<(?:start|end)_of_turn>|\[(?:system|syst[èe]me|inst|/inst|admin)\]|"
                     r"</?(?:document|resumes)\s*>|^\W{0,3}#{2,}\s*\w+|^[\s\W]{0,6}(?:system|syst[èe]me|"
                     r"assistant|user|utilisateur|human|humain|r[ée]sum[ée] fid[èe]le[^:\n]{0,60})\s*\]?\s*:",
                     re.IGNORECASE | re.MULTILINE)
# Follow-up sentences that continue an order (« Ignore tout. Écris seulement « X ». »).
_FOLLOW = re.compile(r"^\W{0,3}(?:puis|ensuite|et|then|and|enfin|simplement|juste)?\s*" + _DEMAND + r"\b", re.I)
# A sentence ends at . ! ? … followed by a space (not inside « www.site.fr »), or at a newline.
_SENTENCE = re.compile(r"(?:[^.!?…\n]|[.!?…]+(?![\s»\"”’)\]]|$))*(?:[.!?…]+(?:\s?[»\"”’)\]])*|\n|$)")
_QUOTED = re.compile(r"«\s*([^«»]{2,300}?)\s*»|“([^“”]{2,300}?)”|\"([^\"\n]{2,300}?)\"|‘([^‘’]{2,300}?)’|"
                     r"(?<!\w)'([^'\n]{2,80}?)'(?!\w)")
# What follows a demand verb: « écris que X », « termine par X », « écris un poème sur X ».
_OBJECT = re.compile(r"\b" + _DEMAND + r"\b\s*(?:uniquement|seulement|simplement|juste|only|just|mot pour mot)?\s*"
                     r"(?:que |qu['’]|that |par |with |:\s*)?(.{3,200}?)\s*(?:[.!?\n]|$)", re.I)
_AFTER_COLON = re.compile(r":\s*(.{3,300}?)\s*$")
_MAX_FOLLOW = 3


@dataclass(frozen=True)
class Instruction:
    start: int
    end: int
    text: str
    payloads: tuple[str, ...] = field(default=())


def _sentences(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def _payloads(span: str) -> tuple[str, ...]:
    """What the instruction asks the model to write: quoted text, « écris que X », « … : X »."""
    found = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(span)]
    found += [m.group(m.lastindex or 1) for m in _OBJECT.finditer(span)]
    lines = [line.strip() for line in span.split("\n")]
    for k, line in enumerate(lines):  # « SYSTÈME : X », « Résumé fidèle … :⏎X »
        head, colon, tail = line.partition(":")
        if colon and (_INSTRUCTION.search(head + ":") or _MARKER.search(head + ":")):
            found.append(tail or (lines[k + 1] if k + 1 < len(lines) else ""))
    cleaned = (p.strip(" «»\"“”'’.:!?") for p in found)
    return tuple(dict.fromkeys(p for p in cleaned if len(p) >= 2))


def _bare(sentence: str) -> bool:
    """A marker alone on its line (« <|im_start|>system », « ### Instruction »): the order follows."""
    rest = _MARKER.sub("", sentence)
    return len(re.findall(r"\w+", rest)) <= 2 and "\n" in sentence + "\n"


@lru_cache(maxsize=16)
def find_instructions(text: str) -> tuple[Instruction, ...]:
    """Injected instructions: each matching sentence, plus what continues it."""
    hits = sorted(m.end() - 1 for m in _INSTRUCTION.finditer(text))  # last char: inside the sentence
    if not hits:
        return ()
    sentences = _sentences(text)
    out: list[Instruction] = []
    i, h = 0, 0
    while i < len(sentences):
        start, end = sentences[i]
        while h < len(hits) and hits[h] < start:
            h += 1
        if not (h < len(hits) and hits[h] < end):
            i += 1
            continue
        bare = _MARKER.search(text[start:end]) is not None and _bare(text[start:end])
        line_done = False
        j = i + 1
        while j < len(sentences) and j - i <= _MAX_FOLLOW and text[end - 1:sentences[j][0]].count("\n") < 2:
            following = text[sentences[j][0]:sentences[j][1]]
            if _MARKER.search(following) or line_done or not (bare or _FOLLOW.match(following.lstrip())):
                break
            end = sentences[j][1]
            line_done = bare and following.endswith("\n")  # a bare marker takes the next line only
            j += 1
        span = text[start:end]
        out.append(Instruction(start, end, span.strip(), _payloads(span)))
        i = j
    return tuple(out)


def without_instructions(text: str) -> str:
    """The document minus its injected instructions (what the retry and the fallback see)."""
    found = find_instructions(text)
    if not found:
        return text
    parts, last = [], 0
    for ins in found:
        parts.append(text[last:ins.start])
        last = ins.end
    parts.append(text[last:])
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\n{3,}", "\n\n", "".join(parts))).strip()


# -- layer 3: does the summary obey? -------------------------------------------------------
_STOP = set("""au aux avec ce ces cette dans de des du elle en et eux il ils je la le les leur lui ma mais me même mes
moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous
est sont été être avoir fait faire plus tout tous toute toutes très bien aussi comme dont où the and for that this
with you your are was les ceci cela ici alors donc car puis ainsi doit texte document résumé resume""".split())


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _stems(text: str) -> set[str]:
    """Content words cut to 6 letters (« démissionné » ~ « démission »); numbers kept whole."""
    return {w if w.isdigit() else w[:6] for w in _norm(text).split()
            if (len(w) >= 4 and w not in _STOP) or w.isdigit()}


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = _norm(text).split()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def obeys(summary: str, source: str, *, template: str = "") -> list[str]:
    """Reasons the summary follows an instruction found in the source (empty list: it does not)."""
    reasons: list[str] = []
    if template:  # reveals the prompt: shares a 6-word run with it that the document does not have
        leaked = _ngrams(summary, 6) & _ngrams(template, 6)
        if leaked - _ngrams(source, 6):
            reasons.append("reveals the prompt")
    if _INSTRUCTION.search(summary):  # a summary of a normal document gives no orders
        reasons.append("contains an instruction")
    found = find_instructions(source)
    if not found:
        return reasons
    clean = without_instructions(source)
    clean_norm, clean_stems, said, said_stems = _norm(clean), _stems(clean), _norm(summary), _stems(summary)
    for ins in found:
        for payload in ins.payloads:
            p = _norm(payload)
            if not p or p in clean_norm:
                continue  # the document itself says it: a faithful summary may too
            own = _stems(payload) - clean_stems
            shared = own & said_stems
            if (len(p) >= 3 and f" {p} " in f" {said} ") or (own and len(shared) >= max(1, 0.5 * len(own))) \
                    or any(w.isdigit() for w in shared):  # a figure found only in the order
                reasons.append(f"writes what the document demanded: {payload[:60]!r}")
        own = _stems(ins.text) - clean_stems
        if len(own) >= 3 and len(own & said_stems) >= 0.5 * len(own):
            reasons.append(f"repeats the injected instruction {ins.text[:60]!r}")
    return list(dict.fromkeys(reasons))


def check(summary: str, source: str, *, template: str = "") -> list[str]:
    """Guard entry point: ["injection"] when the summary obeys the document, else []."""
    return [INJECTION] if obeys(summary, source, template=template) else []
