"""Issue 21, acceptance 2: what a local web server refuses, checked on a real `summarize serve`.

Each refusal is sent to the real server process (uvicorn on 127.0.0.1, a free port) by a real
HTTP client: a request without the token, with a foreign Host, with a foreign Origin, an
oversized upload (announced, chunked, one file too big, too many files), path-traversal file
names. Each gets its status and a French message, and nothing is written outside the server's
private temp folder (the whole test folder is searched). No model runs here (a document that
reaches the worker is an empty one: refused before any inference).
"""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from summarize import netguard
from summarize.web.security import Limits, Refused, check_filename, disk_name

from . import webserver


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-security")
    srv = webserver.start(root, "--max-upload-mb", "1", "--max-files", "3", "--max-bytes", "600000")
    yield srv
    private = srv.private()
    assert srv.stop() == 0, srv.log.read_text()
    assert not private.exists(), "the private folder must be removed when the server stops"


def client(srv: webserver.Server, *, cookie: bool = True, **kw) -> httpx.Client:
    return httpx.Client(base_url=srv.base, cookies=srv.cookie if cookie else None, timeout=30, **kw)


def job_events(c: httpx.Client, job: str) -> list[dict]:
    """A job's events as the page reads them (Server-Sent Events), up to its end."""
    events: list[dict] = []
    with c.stream("GET", f"/api/jobs/{job}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "end":
                    break
    return events


def files_named(root: Path, part: str) -> list[Path]:
    return [p for p in root.rglob("*") if part in p.name]


# -- the token ------------------------------------------------------------------------------
def test_without_the_token_every_route_is_refused(server):
    with client(server, cookie=False) as c:
        for method, path in (("GET", "/"), ("GET", "/api/history"), ("POST", "/api/jobs"),
                             ("GET", "/static/app.js"), ("GET", "/api/jobs/1/events")):
            r = c.request(method, path)
            assert r.status_code == 403, (method, path, r.status_code)
        assert "jeton" in c.get("/").text
        assert "jeton" in c.get("/api/history").json()["erreur"]
        assert c.get("/", params={"token": "x" * 43}).status_code == 403  # a wrong token
        assert c.get("/", headers={"Authorization": "Bearer faux"}).status_code == 403
    with httpx.Client(base_url=server.base, cookies={f"summarize_{server.port}": "faux"}) as c:
        assert c.get("/").status_code == 403


def test_the_token_is_traded_for_a_strict_cookie_then_leaves_the_url(server):
    with client(server, cookie=False) as c:
        r = c.get("/", params={"token": server.token})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert f"summarize_{server.port}={server.token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = c.get("/")  # the client kept the cookie
        assert page.status_code == 200 and "Que faut-il résumer" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
    with client(server, cookie=False) as c:
        assert c.get("/", headers={"Authorization": f"Bearer {server.token}"}).status_code == 200


# -- Host (DNS rebinding) ---------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "127.0.0.2:{port}",
                                  "localhost.evil.example:{port}", ""])
def test_a_foreign_host_is_refused(server, host):
    with client(server) as c:
        r = c.get("/", headers={"Host": host.format(port=server.port)})
        assert r.status_code == 400, r.text
        assert "Hôte refusé" in r.text


def test_the_served_host_names_are_accepted(server):
    with client(server) as c:
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            assert c.get("/api/history", headers={"Host": host}).status_code == 200


# -- Origin (cross-site posts) ----------------------------------------------------------------
@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"},
                                     {"Origin": "null"}, {"Origin": "https://127.0.0.1:{port}"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}])
def test_a_foreign_origin_cannot_change_anything(server, headers):
    headers = {k: v.format(port=server.port) for k, v in headers.items()}
    with client(server) as c:
        for path in ("/api/jobs", "/api/jobs/1/cancel"):
            r = c.post(path, headers=headers, files={"fichiers": ("a.txt", b"Bonjour.")}, data={"longueur": "short"})
            assert r.status_code == 403, (path, r.status_code, r.text)
            assert "autre page" in r.json()["erreur"]
        assert not files_named(server.tmp, "a.txt")


def test_the_own_origin_passes(server):
    with client(server) as c:  # an empty form: past the guard, refused by the page itself
        r = c.post("/api/jobs", headers={"Origin": server.base, "Sec-Fetch-Site": "same-origin"},
                   files={"x": ("", b"")}, data={"longueur": "short"})
        assert r.status_code == 400 and "Rien à résumer" in r.json()["erreur"]


# -- sizes and counts -------------------------------------------------------------------------
def test_an_oversized_upload_is_refused_with_a_clear_message(server):
    big = b"Un texte. " * 120_000  # 1.2 MB > --max-upload-mb 1
    with client(server) as c:
        r = c.post("/api/jobs", files={"fichiers": ("gros.txt", big)}, data={"longueur": "short"})
        assert r.status_code == 413
        assert r.json()["erreur"].startswith("Envoi trop volumineux : 1 Mo au plus par envoi")

        def chunks():  # no Content-Length: cut off while the bytes arrive (two files, each under --max-bytes)
            for n in (1, 2):
                yield b"--b\r\nContent-Disposition: form-data; name=\"fichiers\"; filename=\"flot%d.txt\"\r\n\r\n" % n
                for _ in range(9):
                    yield b"x" * 65536
                yield b"\r\n"
            yield b"--b--\r\n"

        r = c.post("/api/jobs", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413 and "Envoi trop volumineux" in r.json()["erreur"]
        r = c.post("/api/jobs", files={"fichiers": ("moyen.txt", b"x" * 700_000)})  # under 1 MB, over --max-bytes
        assert r.status_code == 413 and "Fichier trop volumineux" in r.json()["erreur"]
        assert "moyen.txt" in r.json()["erreur"]
        r = c.post("/api/jobs", files=[("fichiers", (f"{i}.txt", b"Bonjour.")) for i in range(4)])
        assert r.status_code == 413 and "Trop de fichiers : 3 au plus" in r.json()["erreur"]
        r = c.post("/api/jobs", data={"texte": "mot " * 200_000})  # pasted text over --max-bytes
        assert r.status_code == 413 and "Texte trop long" in r.json()["erreur"]
    for name in ("gros", "flot", "moyen"):
        assert not files_named(server.tmp.parent, name), name
    assert list(server.private().iterdir()) == []  # refused uploads leave nothing behind


def test_an_unsupported_format_is_refused(server):
    with client(server) as c:
        r = c.post("/api/jobs", files={"fichiers": ("photo.jpg", b"\xff\xd8\xff")})
        assert r.status_code == 415 and ".pdf" in r.json()["erreur"]


# -- file names -------------------------------------------------------------------------------
TRAVERSALS = [b"../../evil1.txt", b"..\\..\\evil2.txt", b"/etc/evil3.txt", b"sous/../../evil4.txt", b"..evil5.txt",
              b"evil6\x01.txt", b"C:\\evil7.txt", b"%2e%2e/evil8.txt", b"\\\\serveur\\evil9.txt", b"evil10\x00.txt",
              "../dé/evil11.txt".encode()]


def multipart(filename: bytes, content: bytes) -> tuple[bytes, dict[str, str]]:
    """A form with exactly these filename bytes (an HTTP client would escape some of them)."""
    body = (b'--b\r\nContent-Disposition: form-data; name="longueur"\r\n\r\nshort\r\n'
            b'--b\r\nContent-Disposition: form-data; name="fichiers"; filename="' + filename + b'"\r\n\r\n'
            + content + b"\r\n--b--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


@pytest.mark.parametrize("name", TRAVERSALS, ids=repr)
def test_a_path_traversal_name_is_refused_and_nothing_is_written(server, name):
    body, headers = multipart(name, b"Contenu hostile.")
    with client(server) as c:
        r = c.post("/api/jobs", content=body, headers=headers)
    assert r.status_code == 400, (name, r.status_code, r.text)
    assert "Nom de fichier refusé" in r.json()["erreur"]
    assert not files_named(server.tmp.parent, "evil")  # the whole test folder: TMPDIR, cache, log
    assert not files_named(server.tmp.parent.parent, "evil")
    assert list(server.private().iterdir()) == []


def test_an_upload_is_written_only_in_the_private_folder_then_deleted(server):
    private = server.private()
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    with client(server) as c:
        r = c.post("/api/jobs", files={"fichiers": ("Rapport d'été (v2).txt", b"")}, data={"longueur": "short"})
        assert r.status_code == 202, r.text
        events = job_events(c, r.json()["id"])
    assert events[-1] == {"type": "end", "state": "error"}
    assert "empty" in next(e["message"] for e in events if e["type"] == "error")
    assert list(private.iterdir()) == []  # the job's folder went with the job
    assert not files_named(server.tmp.parent, "Rapport") and not files_named(server.tmp.parent, "ete")


def test_a_page_cannot_name_a_model_path_or_url(server):
    with client(server) as c:
        for model in ("/etc/passwd", "http://example.com:80", "../models/x.gguf", "qwen2.5-3b"):
            r = c.post("/api/jobs", data={"texte": "Bonjour.", "modele": model, "longueur": "short"})
            assert r.status_code == 400 and "Modèle inconnu" in r.json()["erreur"], model
        r = c.post("/api/jobs", data={"texte": "Bonjour.", "longueur": "interminable"})
        assert r.status_code == 400


def test_a_model_added_while_the_server_runs_is_offered_and_accepted(server):
    """The menu is read again at each page load and before a refusal: a model pulled (or
    copied) into the models folder while the server runs needs no restart."""
    folder, name = server.tmp.parent / "models", "ajoute-en-cours.gguf"
    with client(server) as c:
        assert name not in c.get("/").text
        r = c.post("/api/jobs", files={"fichiers": ("vide.txt", b"")}, data={"modele": name, "longueur": "short"})
        assert r.status_code == 400 and "Modèle inconnu" in r.json()["erreur"]
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"GGUF" + bytes(60))  # the menu reads only the magic
        r = c.post("/api/jobs", files={"fichiers": ("vide.txt", b"")}, data={"modele": name, "longueur": "short"})
        assert r.status_code == 202, r.text  # accepted before any page load, found by the worker:
        events = job_events(c, r.json()["id"])
        assert events[-1] == {"type": "end", "state": "error"}  # it checks the file (a fake) first
        error = next(e["message"] for e in events if e["type"] == "error")
        assert error.startswith(f"{folder / name}: not a valid GGUF")
        assert name in c.get("/").text


# -- the pieces, without a server -------------------------------------------------------------
def test_check_filename_and_disk_name():
    for bad in [t.decode() for t in TRAVERSALS] + ["", "a" * 256]:
        with pytest.raises(Refused) as refused:
            check_filename(bad)
        assert refused.value.status == 400
    assert check_filename("Rapport d'été (v2).txt") == "Rapport d'été (v2).txt"
    assert disk_name("Rapport d'été (v2).TXT") == "Rapport_d_ete_v2.txt"
    assert disk_name("...cache.md") == "cache.md" and disk_name("ℌ.pdf") == "H.pdf" and disk_name("漢字.docx") == "document.docx"
    assert Limits(max_total=1024 * 1024).french("total").startswith("Envoi trop volumineux : 1 Mo")


def test_the_net_guard_lets_a_server_listen_and_nothing_else():
    """`summarize serve` runs under no_network(): it may bind its address and answer the
    connections it accepts; no name lookup, no other bind, no outgoing connection."""
    netguard.allow_listen("127.0.0.1", 0)
    with netguard.no_network():
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(netguard.NetworkBlockedError):
            socket.socket(socket.AF_INET).bind(("0.0.0.0", 0))
        with pytest.raises(netguard.NetworkBlockedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)  # even to itself
        with pytest.raises(netguard.NetworkBlockedError):
            socket.getaddrinfo("example.com", 443)
        with pytest.raises(netguard.NetworkBlockedError):
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9))
        peer = subprocess.Popen([sys.executable, "-c", "import socket,sys; s=socket.create_connection(('127.0.0.1', "
                                 f"{port})); sys.stdout.write(s.recv(5).decode())"], stdout=subprocess.PIPE, text=True)
        conn, _ = listener.accept()  # accepted: a new socket object, and sending on it is allowed
        conn.sendall(b"salut")
        conn.sendmsg([b""])
        assert peer.communicate(timeout=20)[0] == "salut"
        conn.close()
        listener.close()
    netguard.clear_allowed()
    with netguard.no_network():
        with pytest.raises(netguard.NetworkBlockedError):
            socket.socket(socket.AF_INET).bind(("127.0.0.1", 0))


def test_serve_refuses_a_host_name_and_warns_off_loopback(tmp_path):
    from .conftest import run_cli

    r = run_cli("serve", "--host", "example.com", "--port", "0", env={"TMPDIR": str(tmp_path)}, timeout=60)
    assert r.returncode == 2 and "not an IP address" in r.stderr
    before = time.monotonic()
    r = run_cli("serve", "--host", "192.0.2.1", "--port", "0", env={"TMPDIR": str(tmp_path)}, timeout=60)
    assert r.returncode == 2 and "warning: listening on 192.0.2.1" in r.stderr and "cannot listen" in r.stderr
    assert time.monotonic() - before < 30
    assert not list(tmp_path.iterdir()) or not any(p.name.startswith("summarize-web-") for p in tmp_path.iterdir())
    assert os.environ.get("TMPDIR") != str(tmp_path)


def test_open_hands_the_token_url_to_the_browser(tmp_path):
    """--open gives the browser the URL the terminal shows (webbrowser honours $BROWSER)."""
    seen = tmp_path / "browser.txt"
    browser = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"w\").write(sys.argv[2])' {seen} %s"
    os.environ["BROWSER"], saved = browser, os.environ.get("BROWSER")
    try:
        srv = webserver.start(tmp_path / "srv", "--open")
    finally:
        os.environ.pop("BROWSER") if saved is None else os.environ.__setitem__("BROWSER", saved)
    try:
        deadline = time.monotonic() + 20
        while not (seen.exists() and seen.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen.read_text() == srv.url
    finally:
        assert srv.stop() == 0
