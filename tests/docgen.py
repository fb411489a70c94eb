"""Small document fixtures built at test time (PDF, DOCX, French corpora), so nothing big is committed."""
from __future__ import annotations

import io
import os
from pathlib import Path

FRENCH_NEWS = [
    "La mairie de Rennes a annoncé mardi l'ouverture de trois nouvelles pistes cyclables dans le centre-ville. "
    "Les travaux commenceront en avril et dureront six mois. L'objectif est de doubler le nombre de cyclistes.",
    "Le musée des Beaux-Arts de Lyon accueille une exposition consacrée aux peintres impressionnistes. "
    "Plus de cent toiles sont présentées jusqu'en septembre, avec des conférences gratuites le samedi.",
    "Une tempête a privé d'électricité des milliers de foyers en Bretagne dans la nuit de dimanche. "
    "Les équipes sont mobilisées pour rétablir le courant et la préfecture recommande de limiter les déplacements.",
    "Les agriculteurs de la Beauce se plaignent de la sécheresse qui touche la région depuis le printemps. "
    "Les rendements de blé pourraient baisser fortement et le ministère promet des aides d'urgence.",
    "Le conseil départemental du Gers a inauguré une nouvelle maison de santé à Auch. "
    "Six médecins généralistes et deux infirmières y recevront les patients dès le mois prochain.",
    "La ville de Lille lance une consultation sur la piétonnisation de la Grand-Place. "
    "Les habitants peuvent donner leur avis en ligne ou en mairie jusqu'à la fin du mois.",
]
LATIN1_FRENCH = ("Le conseil municipal de Nantes a voté mercredi la rénovation de l'école élémentaire Jules-Verne. "
                 "Les élèves bénéficieront d'une cantine agrandie et d'une cour végétalisée dès la rentrée. "
                 "« C'est un projet très attendu par les familles », a déclaré la maire.")


def write_corpus(folder: Path, count: int, texts: list[str] = FRENCH_NEWS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"doc{i:02d}.txt"
        path.write_text(texts[i % len(texts)] + ("" if i < len(texts) else f" (copie {i})"), encoding="utf-8")
        paths.append(path)
    return paths


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with a real text layer (Helvetica, WinAnsi: French accents work)."""
    return make_pdf_pages([lines])


def make_pdf_pages(pages: list[list[str]]) -> bytes:
    """A minimal PDF with one page per list of lines, each with a real text layer."""
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join(f"{3 + 2 * i} 0 R" for i in range(n)).encode(), n)]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"] + [f"({esc(line)}) Tj T*" for line in lines] + ["ET"]
        stream = "\n".join(ops).encode("cp1252")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, 3 + 2 * n))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def unreadable_file(folder: Path) -> Path | None:
    """A file that open() refuses even to root (/proc/sys write-only entries), else chmod 000."""
    target = folder / "illisible.txt"
    if os.geteuid() != 0:
        target.write_text("secret", encoding="utf-8")
        target.chmod(0)
        return target
    for candidate in ("/proc/sys/vm/drop_caches", "/proc/sys/vm/compact_memory"):
        try:
            with open(candidate, "rb"):
                continue
        except PermissionError:
            target.symlink_to(candidate)
            return target
        except OSError:
            continue
    return None
