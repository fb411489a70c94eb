"""Readers (issue 4): every format, legacy French encodings, and one clear error per bad input."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from summarize.errors import DocumentError
from summarize.reading.readers import read_document

from .docgen import LATIN1_FRENCH, make_docx, make_pdf, unreadable_file

DATA = Path(__file__).parent / "data"


def _error(path: Path | str, *fragments: str, **kw) -> str:
    with pytest.raises(DocumentError) as info:
        read_document(str(path), **kw)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("codec, expected", [("latin-1", "latin-1"), ("cp1252", "cp1252")])
def test_legacy_french_encodings_decode_with_their_accents(tmp_path, codec, expected):
    text = LATIN1_FRENCH + (" L’œuvre coûte 3 €…" if codec == "cp1252" else "")
    path = tmp_path / "ancien.txt"
    path.write_bytes(text.encode(codec))
    doc = read_document(str(path))
    assert doc.text == text and doc.encoding == expected
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_short_latin1_is_not_mistaken_for_mac_roman(tmp_path):
    path = tmp_path / "court.txt"
    path.write_bytes("Été à Noël : où ça ?".encode("latin-1"))
    assert read_document(str(path)).text == "Été à Noël : où ça ?"


def test_utf8_with_one_broken_byte_is_kept_and_flagged(tmp_path):
    path = tmp_path / "tronque.txt"
    path.write_bytes("Voici un texte en français, coupé au milieu d’un caractère".encode() + b"\xc3")
    doc = read_document(str(path))
    assert doc.text.startswith("Voici un texte en français") and doc.encoding == "utf-8"
    assert "1 invalid UTF-8 byte" in doc.note


@pytest.mark.parametrize("name, data, fragment", [
    ("vide.txt", b"", "empty"),
    ("blanc.md", b" \n\t\n  ", "empty"),
    ("nul.txt", b"texte\x00\x01\x02binaire" * 50, "binary"),
    ("controle.txt", bytes(range(1, 9)) * 300, "binary"),
    ("invalide.txt", bytes(range(0x80, 0x100)) * 20, "cannot detect the text encoding"),
    ("corrompu.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ntrailer <<>>\n%%EOF", "PDF"),
    ("faux.pdf", b"ceci n'est pas un pdf", "PDF"),
    ("corrompu.docx", b"PK\x03\x04 pas vraiment un zip", "corrupt or unreadable DOCX"),
    ("menus.html", b"<html><body><nav><a href='/'>Accueil</a> <a href='/b'>Blog</a></nav></body></html>",
     "no article text"),
    ("modele.gguf", b"GGUF\x03\x00\x00\x00", "model file"),
    ("image.png", b"\x89PNG\r\n\x1a\n", "unsupported format '.png'"),
])
def test_bad_inputs_give_one_line_errors(tmp_path, name, data, fragment):
    path = tmp_path / name
    path.write_bytes(data)
    _error(path, fragment)


def test_pdf_without_text_layer(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf([]))
    _error(path, "no text layer")


def test_too_large_is_refused_before_reading(tmp_path):
    path = tmp_path / "gros.txt"
    with open(path, "wb") as fh:
        fh.truncate(20 * 1024 * 1024)  # sparse: instant, and proves the size check comes first
    _error(path, "document too large", "--max-bytes")
    small = tmp_path / "petit.txt"
    small.write_text("Un texte de quelques octets.", encoding="utf-8")
    _error(small, "document too large", max_bytes=8)


def test_paths_that_are_not_readable_files(tmp_path):
    loop = tmp_path / "boucle.txt"
    loop.symlink_to(loop)
    _error(loop, "cannot access file", "symbolic links")
    _error(tmp_path / "absent.txt", "file not found")
    _error(tmp_path, "is a directory")
    fifo = tmp_path / "tube.txt"
    os.mkfifo(fifo)
    _error(fifo, "not a regular file")
    unreadable = unreadable_file(tmp_path)
    if unreadable is None:
        pytest.skip("no way to make a file unreadable here")
    _error(unreadable, "permission denied")


def test_pdf_and_docx_text(tmp_path):
    pdf = tmp_path / "rapport.pdf"
    pdf.write_bytes(make_pdf(["Le conseil régional a voté un budget de 12 millions d'euros.",
                              "Les lycées (publics) seront rénovés à partir de l'été."]))
    doc = read_document(str(pdf))
    assert doc.format == "pdf" and "régional" in doc.text and "(publics)" in doc.text
    docx_path = tmp_path / "note.docx"
    docx_path.write_bytes(make_docx(["Compte rendu de la réunion du 3 mai.", "Décision : ouverture le lundi."],
                                    table=[["Poste", "Montant"], ["Travaux", "4 500 €"]]))
    doc = read_document(str(docx_path))
    assert doc.format == "docx" and "réunion" in doc.text and "Travaux | 4 500 €" in doc.text


def test_html_keeps_the_article_and_drops_the_boilerplate():
    doc = read_document(str(DATA / "boilerplate.html"))
    assert doc.format == "html"
    assert "médiathèque des Ursulines" in doc.text and "6,2 millions d'euros" in doc.text
    assert "harpe celtique" in doc.text  # the article's last paragraph too
    for noise in ("cookies", "Horoscope", "Les plus lus", "Mentions légales", "newsletter", "Cuisines Armor",
                  "À lire aussi", "Partager sur Facebook", "Se connecter"):
        assert noise.lower() not in doc.text.lower(), noise


def test_html_in_a_legacy_encoding(tmp_path):
    html = ("<html><head><meta charset='windows-1252'><title>t</title></head><body><nav>Menu</nav><article><p>"
            + LATIN1_FRENCH + "</p><p>" + LATIN1_FRENCH.replace("Nantes", "Angers") + "</p></article></body></html>")
    path = tmp_path / "ancien.html"
    path.write_bytes(html.encode("cp1252"))
    assert "l'école élémentaire" in read_document(str(path)).text
