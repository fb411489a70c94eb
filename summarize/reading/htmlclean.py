"""Remove what a reader of the page cannot see before extracting its text.

Hidden text is the usual carrier of prompt injection in web pages (« display:none »
paragraphs, white-on-white notes, ``<template>``…): a summary must reflect what the page
shows, not orders hidden for machines. trafilatura already drops comments, scripts,
``display:none`` inline styles and ``aria-hidden``; this pass covers the rest, including
classes that a ``<style>`` block hides.
"""
from __future__ import annotations

import re

_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|font-size\s*:\s*0(?:\.0+)?\s*(?:px|pt|em|rem|%)?\s*(?:;|$|!)"
    r"|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$|!)|color\s*:\s*transparent|(?:max-)?height\s*:\s*0(?:px)?\s*;[^\"]*overflow\s*:\s*hidden"
    r"|(?:left|top|text-indent)\s*:\s*-\d{4,}|clip\s*:\s*rect\(\s*0|clip-path\s*:\s*inset\(\s*50%",
    re.IGNORECASE)
_COLOR = re.compile(r"(?<![-\w])color\s*:\s*([^;\"]+)", re.IGNORECASE)
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*([^;\"]+)", re.IGNORECASE)
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_CLASS_SELECTOR = re.compile(r"^\s*(?:[a-z0-9]*)\.([\w-]+)\s*$", re.IGNORECASE)
HIDDEN_CLASSES = {"hidden", "d-none", "invisible", "visually-hidden", "sr-only", "screen-reader-text", "hide"}
DROP_TAGS = ("template", "noscript", "script", "style", "iframe", "object", "embed", "svg", "math", "head")
_WHITE = {"#fff", "#ffffff", "white", "rgb(255,255,255)", "#fefefe"}


_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

def _norm_color(value: str) -> str:
    return re.sub(r"\s+|!important", "", value.lower())


def hidden_style(style: str) -> bool:
    if _HIDDEN_STYLE.search(style):
        return True
    color, background = _COLOR.search(style), _BACKGROUND.search(style)
    if color and background:  # text painted in the background colour
        fg, bg = _norm_color(color.group(1)), _norm_color(background.group(1))
        return fg == bg or (fg in _WHITE and bg in _WHITE)
    return False


def _hidden_classes(css: str) -> set[str]:
    """Classes a stylesheet hides (`.note { display: none }`): simple selectors only."""
    found: set[str] = set()
    for selectors, body in _CSS_RULE.findall(css):
        if hidden_style(body):
            for selector in selectors.split(","):
                m = _CLASS_SELECTOR.match(selector)
                if m:
                    found.add(m.group(1).lower())
    return found


def strip_hidden(html: str) -> str:
    """The page without hidden elements and comments; the input unchanged if it cannot be parsed."""
    try:
        import lxml.html
        from lxml import etree
    except ImportError:  # pragma: no cover - lxml comes with trafilatura
        return html
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError, TypeError):
        return html
    hidden = set(HIDDEN_CLASSES)
    for style in root.iter("style"):
        hidden |= _hidden_classes(style.text_content() or "")
    doomed = []
    for el in root.iter():
        if not isinstance(el.tag, str):  # comments, processing instructions
            doomed.append(el)
            continue
        tag = el.tag.lower()
        if tag in DROP_TAGS and tag != "head":
            doomed.append(el)
        elif (el.get("hidden") is not None or (el.get("aria-hidden") or "").strip().lower() == "true"
              or hidden_style(el.get("style") or "")
              or hidden & {c.lower() for c in (el.get("class") or "").split()}):
            doomed.append(el)
        elif tag == "input" and (el.get("type") or "").lower() == "hidden":
            doomed.append(el)
    for el in doomed:
        parent = el.getparent()
        if parent is None:
            continue
        if isinstance(el.tag, str):
            el.drop_tree()  # keeps the tail text, which belongs to the parent
        else:
            # lxml parsed this text but refuses control characters when it is assigned back.
            tail = _XML_UNSAFE.sub("", el.tail or "")
            prev = el.getprevious()
            parent.remove(el)
            if tail:
                if prev is not None:
                    prev.tail = _XML_UNSAFE.sub("", prev.tail or "") + tail
                else:
                    parent.text = _XML_UNSAFE.sub("", parent.text or "") + tail
    try:
        return lxml.html.tostring(root, encoding="unicode")
    except (ValueError, TypeError):  # pragma: no cover
        return html
