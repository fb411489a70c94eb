"""The Starlette application of `summarize serve`: one server-rendered page, a small JSON API,
Server-Sent Events for a job's progress. Behind ``security.Guard`` (Host, token, Origin, size).

    GET  /                            the page (models, lengths, limits, history from the cache)
    GET  /static/…                    its script and style sheet (no CDN, works offline)
    POST /api/jobs                    multipart form: files (fichiers), pasted text (texte), longueur, modele
    GET  /api/jobs/{id}/events        the job's events (text/event-stream), replayed from Last-Event-ID
    POST /api/jobs/{id}/cancel        stop it (cancel.py): the worker stops at its next decoding step
    GET  /api/jobs/{id}/resultats.zip a batch's Markdown files, manifest.jsonl, sobriety.json, synthese.md
    GET  /api/history                 the latest summaries in the cache; /api/history/{key}: one of them
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import prompts as prompt_data
from .jobs import Job, Runner, Settings, view
from .security import Guard, Limits, Refused
from .uploads import TEXT_FIELD, Form, Upload, receive_form

HERE = Path(__file__).parent
LENGTH_LABELS = {"short": "court", "medium": "moyen", "long": "long"}
PASTED = "texte-colle.txt"  # pasted text goes through the .txt reader, as `summarize FILE.txt` would
HISTORY = 30
POLL = 0.05  # seconds between looks at a job's new events (a token is ~20-80 ms on a CPU)
KEEPALIVE = 15.0


@dataclass
class Config:
    token: str
    hosts: set[str]
    port: int
    root: Path  # the private folder (mkdtemp, 0700): uploads and batch outputs, nothing else
    settings: Settings = field(default_factory=Settings)
    limits: Limits = field(default_factory=Limits)
    length: str = "medium"


def create_app(config: Config) -> Guard:
    """The ASGI application, wrapped in its guard."""
    state = State(config)
    routes = [
        Route("/", state.page),
        Route("/api/jobs", state.submit, methods=["POST"]),
        Route("/api/jobs/{job}/events", state.events),
        Route("/api/jobs/{job}/cancel", state.cancel, methods=["POST"]),
        Route("/api/jobs/{job}/resultats.zip", state.download),
        Route("/api/history", state.history),
        Route("/api/history/{key}", state.history_entry),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(state.close)  # cancel what runs, wait for the worker, free the model

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={Refused: _refused})
    app.state.summarize = state  # tests and the benchmark reach the runner through it
    return Guard(app, token=config.token, hosts=config.hosts, cookie=f"summarize_{config.port}", limits=config.limits)


class State:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.runner = Runner(config.settings, config.root)
        self._models: list[dict[str, Any]] | None = None
        self._env: Any = None

    def close(self) -> None:
        self.runner.close()

    # -- the page -----------------------------------------------------------------------
    def models(self, fresh: bool = False) -> list[dict[str, Any]]:
        """The menu: the models `summarize models` lists (embedded first), without reading their
        headers; the one `serve --model` named comes first and is the default. ``fresh`` reads the
        folders again (each page load): a model pulled while the server runs shows up."""
        if self._models is None or fresh:
            from .. import models

            rows = models.available(self.config.settings.gpu_layers, headers=False)
            menu = [{"name": r["name"], "usable": bool(r.get("usable")), "source": r["source"],
                     "size_mb": round((r.get("size") or 0) / 1e6), "hint": r.get("pull") or r.get("error") or ""}
                    for r in rows]
            default = self.config.settings.model or os.environ.get("SUMMARIZE_MODEL") or models.DEFAULT_MODEL
            named = next((m for m in menu if m["name"] == default), None)
            if named is None:  # a path, a URL or another tool's file: shown as given
                named = {"name": default, "usable": True, "source": "serve --model", "size_mb": 0, "hint": ""}
            else:
                menu.remove(named)
            self._models = [named] + menu
        return self._models

    def usable_model(self, name: str | None) -> str | None:
        """Only a model of the menu may be asked for: a page never names a path or a URL."""
        if not name:
            return self.config.settings.model
        for fresh in (False, True):  # read the folders again before refusing: it may be new
            menu = self.models(fresh)
            for entry in menu:
                if entry["name"] == name and entry["usable"]:
                    return self.config.settings.model if entry is menu[0] else name
        raise Refused(400, f"Modèle inconnu ou indisponible : « {name[:80]} ».")

    async def page(self, request: Request) -> Response:
        import jinja2

        if self._env is None:
            self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        from ..reading.readers import SUPPORTED
        from .security import mb

        history = await asyncio.to_thread(self._history)
        menu = await asyncio.to_thread(self.models, True)
        html = self._env.get_template("index.html").render(
            models=menu, lengths=[(k, LENGTH_LABELS[k]) for k in prompt_data.LENGTHS],
            length=self.config.length, history=history, accept=",".join(SUPPORTED), formats=", ".join(SUPPORTED),
            limits=self.config.limits, max_total=mb(self.config.limits.max_total),
            max_bytes=mb(self.config.limits.max_bytes))
        return HTMLResponse(html)

    # -- jobs ---------------------------------------------------------------------------
    async def submit(self, request: Request) -> Response:
        runner = self.runner
        job_id, folder = runner.new_folder()
        folder.mkdir(mode=0o700)
        try:
            kind = request.headers.get("content-type", "")
            if kind.startswith("application/x-www-form-urlencoded"):  # a script posting pasted text: no files
                fields = await request.form(max_files=0, max_fields=8)
                form = Form(fields={k: v for k, v in fields.items() if isinstance(v, str)})
                if len(form.fields.get(TEXT_FIELD, "").encode("utf-8")) > self.config.limits.max_bytes:
                    raise Refused(413, self.config.limits.french("text"))
            else:
                form = await receive_form(kind, request.stream(), folder / "documents", self.config.limits)
            length = form.fields.get("longueur") or self.config.length
            if length not in prompt_data.LENGTHS:
                raise Refused(400, f"Longueur inconnue : « {length[:20]} » (court, moyen ou long).")
            model = self.usable_model(form.fields.get("modele"))
            text = form.fields.get(TEXT_FIELD, "")
            if text.strip():
                form.files.append(_write_pasted(folder / "documents", text))
            if not form.files:
                raise Refused(400, "Rien à résumer : déposez un fichier ou collez un texte.")
        except BaseException:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            raise
        kind = "document" if len(form.files) == 1 else "batch"
        names = {u.path.name: u.name for u in form.files}
        if kind == "document":
            folder, names = folder, {f"documents/{k}": v for k, v in names.items()}
        job = runner.submit(Job(job_id, kind, folder, model, length, names=names))
        return JSONResponse({"id": job.id, "kind": kind, "documents": [u.name for u in form.files]}, status_code=202)

    async def events(self, request: Request) -> Response:
        job = self._job(request)
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else 0

        async def stream() -> AsyncIterator[str]:
            sent, quiet = start, time.monotonic()
            while True:
                events = job.events[sent:]
                if events:
                    out = []
                    for event in events:
                        out.append(f"id: {sent}\nevent: {event['type']}\n"
                                   f"data: {json.dumps(event, ensure_ascii=False)}\n\n")
                        sent += 1
                    yield "".join(out)
                    quiet = time.monotonic()
                    if events[-1]["type"] == "end":
                        return
                elif time.monotonic() - quiet > KEEPALIVE:
                    yield ": en attente\n\n"
                    quiet = time.monotonic()
                await asyncio.sleep(POLL)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        self.runner.cancel(job.id)
        return JSONResponse({"id": job.id, "state": job.state})

    async def download(self, request: Request) -> Response:
        job = self._job(request)
        if job.download is None:
            raise Refused(404, "Pas encore de résultats à télécharger pour ce lot.")
        return Response(job.download, media_type="application/zip",
                        headers={"content-disposition": f'attachment; filename="resumes-{job.id}.zip"'})

    def _job(self, request: Request) -> Job:
        job = self.runner.jobs.get(request.path_params["job"])
        if job is None:
            raise Refused(404, "Travail inconnu (le serveur a peut-être redémarré).")
        return job

    # -- history ------------------------------------------------------------------------
    def _open_cache(self) -> Any:
        from .. import paths
        from ..cache import Cache

        return Cache(paths.cache_dir(self.config.settings.cache_dir))

    def _history(self) -> list[dict[str, Any]]:
        cache = self._open_cache()
        try:
            entries = cache.documents(HISTORY)
        finally:
            cache.close()
        return [{"key": key, "name": e.meta.get("name") or "texte collé",
                 "when": time.strftime("%d/%m/%Y %H:%M", time.localtime(created)),
                 "model": e.meta.get("model"), "length": LENGTH_LABELS.get(e.meta.get("length"), e.meta.get("length")),
                 "method": e.meta.get("method") or "model", "start": _start(e.summary)} for key, e, created in entries]

    async def history(self, request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(self._history))

    async def history_entry(self, request: Request) -> Response:
        key = request.path_params["key"]

        def find() -> dict[str, Any] | None:
            cache = self._open_cache()
            try:
                entry = cache.get(key)
            finally:
                cache.close()
            if entry is None:
                return None
            return view({**entry.meta, "summary": entry.summary, "cache_hit": True}, source="historique")

        found = await asyncio.to_thread(find)
        if found is None:
            raise Refused(404, "Ce résumé n'est plus dans le cache.")
        return JSONResponse(found)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"erreur": exc.message}, status_code=exc.status)
    from html import escape

    return HTMLResponse(f"<!doctype html><html lang=fr><meta charset=utf-8><title>summarize</title>"
                        f"<p>{escape(exc.message)}</p></html>", status_code=exc.status)


def _write_pasted(folder: Path, text: str) -> Upload:
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / PASTED
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Upload("Texte collé", path, len(text.encode("utf-8")))


def _start(summary: str, words: int = 18) -> str:
    parts = summary.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


__all__ = ["Config", "create_app"]
