"""Command line: parses arguments, calls the library, prints. No logic of its own."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from enum import Enum
from typing import List, Optional

import typer

from .errors import EXIT_FAILURE, SummarizeError

HELP = """Faithful French summaries of your documents, computed on your own machine.

\b
  summarize FILE [options]          summarize one document (.txt .md .html .pdf .docx, or - for stdin)
  summarize batch PATH... --out DIR summarize a whole corpus, cached and resumable
  summarize serve [--open]          a local web page (pip install 'summarize[web]')
  summarize models | cache | eval   manage models, the cache, measure quality
"""
app = typer.Typer(help=HELP, add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})
models_app = typer.Typer(help="List usable models, or download one from the catalog.", invoke_without_command=True)
cache_app = typer.Typer(help="Inspect or clear the summary cache.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(cache_app, name="cache")
SUBCOMMANDS = {"run", "models", "cache", "batch", "eval", "synth", "serve"}


class Length(str, Enum):
    short = "short"
    medium = "medium"
    long = "long"


class Format(str, Enum):
    text = "text"
    json = "json"


ModelOpt = typer.Option(None, "--model", "-m", help="GGUF path, catalog name, embedded model (gemma3-270m, smollm2-135m), "
                        "a file another tool downloaded: ollama:NAME[:TAG], lmstudio:…, hf:ORG/REPO[/FILE], "
                        "or a server: http(s)://HOST:PORT[/PREFIX][#MODEL] (env SUMMARIZE_MODEL).")
GpuLayersOpt = typer.Option(None, "--gpu-layers", help="Layers offloaded to the GPU: a number or `all` (default: all "
                            "when llama.cpp was built with GPU support, else 0; env SUMMARIZE_GPU_LAYERS).")
ServerKindOpt = typer.Option(None, "--server-kind", help="With a server URL: llama-server, ollama, vllm, "
                             "llama-cpp-python or openai (default: detected).")
ApiKeyEnvOpt = typer.Option(None, "--api-key-env", help="With a server URL: the environment variable holding its "
                            "bearer key (default SUMMARIZE_API_KEY).")
class Engine(str, Enum):
    local = "local"
    ray = "ray"


ModelOpt = typer.Option(None, "--model", "-m", help="GGUF path, catalog name, or embedded model (gemma3-270m, smollm2-135m).")
CacheDirOpt = typer.Option(None, "--cache-dir", help="Cache folder (default: user cache dir; env SUMMARIZE_CACHE_DIR).")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Show llama.cpp logs and tracebacks.")
NoCiteOpt = typer.Option(False, "--no-cite", help="No source passages: neither references after each sentence "
                         "nor quotes (and no attribution in --format json).")
MaxTokensOpt = typer.Option(None, "--max-tokens", help="Refuse documents longer than this many tokens "
                            "(default 1000000; env SUMMARIZE_MAX_TOKENS).")


def _fail(err: BaseException, verbose: bool) -> None:
    if verbose:
        import traceback

        traceback.print_exc()
    if isinstance(err, SummarizeError):
        typer.echo(f"summarize: error: {err}", err=True)
        raise typer.Exit(err.exit_code)
    if isinstance(err, KeyboardInterrupt):
        typer.echo("summarize: interrupted", err=True)
        raise typer.Exit(130)
    typer.echo(f"summarize: internal error: {type(err).__name__}: {err} — rerun with --verbose and report it", err=True)
    raise typer.Exit(EXIT_FAILURE)


@app.command("run", help="Summarize one document (the default command: `summarize FILE`).")
def run(
    file: str = typer.Argument(..., help="Document to summarize, or - for standard input."),
    model: Optional[str] = ModelOpt,
    length: Length = typer.Option(Length.medium, "--length", "-l", help="Summary length."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text, or json with metadata."),
    cache_dir: Optional[str] = CacheDirOpt,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
    ctx: Optional[int] = typer.Option(None, "--ctx", help="Context size (default: sized to the document, ≤ 4096)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: the physical cores a foreign load leaves free; a number is kept as is)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the chunk plan without loading the weights."),
    max_bytes: int = typer.Option(10_000_000, "--max-bytes", help="Refuse documents larger than this."),
    max_tokens: Optional[int] = MaxTokensOpt,
    gpu_layers: Optional[str] = GpuLayersOpt,
    server_kind: Optional[str] = ServerKindOpt,
    api_key_env: Optional[str] = ApiKeyEnvOpt,
    no_cite: bool = NoCiteOpt,
    verbose: bool = VerboseOpt,
) -> None:
    from .backends import RemoteOptions
    from .output import StageProgress, StreamPrinter
    from .reading.readers import read_document
    from .summarizer import Summarizer

    try:
        doc = read_document(file, max_bytes=max_bytes)
        if dry_run:
            from .dryrun import dry_run as plan_only

            plan = plan_only(doc.text, model, length=length.value, ctx=ctx, max_tokens=max_tokens, source=file)
            typer.echo(json.dumps(plan, indent=2) if fmt is Format.json else _plan_text(plan))
            return
        summarizer = Summarizer(model, length=length.value, cache_dir=cache_dir, use_cache=not no_cache, ctx=ctx,
                                threads=threads, verbose=verbose, max_bytes=max_bytes, max_tokens=max_tokens,
                                gpu_layers=gpu_layers, remote=RemoteOptions(kind=server_kind, api_key_env=api_key_env),
                                cite=not no_cite)
        printer = StreamPrinter() if fmt is Format.text else None
        progress = StageProgress(lambda: summarizer.tokens_processed)
        result = summarizer.summarize_text(doc.text, source=file, on_text=printer, progress=progress,
                                           layout=doc.layout)
        if printer is not None:
            from .quality.cite import render

            printer.finish(render(result.sentences) if result.sentences else result.summary)
        else:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    except (SummarizeError, KeyboardInterrupt, Exception) as err:  # noqa: BLE001 - one line, never a traceback
        _fail(err, verbose)


def _plan_text(plan: dict) -> str:
    lines = [f"model {plan['model']} (tokenizer: {plan['tokenizer']}), context {plan['n_ctx']} tokens, "
             f"document {plan['doc_tokens']} tokens, {len(plan['chunks'])} chunk(s) of ≤ {plan['chunk_budget']} tokens"]
    lines += [f"  chunk {c['index'] + 1}: {c['tokens']} tokens, chars {c['start']}-{c['end']}" for c in plan["chunks"]]
    lines.append(f"about {plan['prompt_tokens']} prompt tokens, ≤ {plan['max_output_tokens']} generated, "
                 f"estimated {plan['estimated_seconds']} s on CPU")
    return "\n".join(lines)


@models_app.callback()
def models_list(ctx: typer.Context, fmt: Format = typer.Option(Format.text, "--format", "-f"),
                gpu_layers: Optional[str] = GpuLayersOpt,
                check: bool = typer.Option(False, "--check", help="Also read the header of every model found "
                                           "in other tools' folders (context, chat template; slower).")) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from . import gpu, models

    try:
        settings = gpu.planned(gpu_layers)
        rows = models.available(gpu_layers, check=check)
    except Exception as err:  # noqa: BLE001
        _fail(err, False)
    if fmt is Format.json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    backends = ", ".join(settings["gpu_backends"]) or "none in this llama.cpp build"
    typer.echo(f"gpu layers: {settings['gpu_layers']} (GPU backends: {backends})")
    from .backends.native import describe

    typer.echo(describe())  # which CPU features llama.cpp runs on, and whether AMX is avoided
    for row in rows:
        typer.echo(_model_line(row))
    typer.echo(_suggestion(rows, models.total_ram()))


def _model_line(row: dict) -> str:
    name = f"{row['name']:<16}"
    if row["source"] == "catalog":
        return _catalog_lines(row, name)
    if not row.get("usable"):
        return f"{name} {'—':>8}     unavailable: {row.get('error')}"
    chat = {True: "yes", False: "no", None: "?"}[row.get("chat_template")]
    return (f"{name} {row['size'] / 1e6:>8.0f} MB  chat={chat:<3}  ctx={row.get('context') or '?':<6}  "
            f"{row.get('license') or '?':<22} {row['path']}")


def _catalog_lines(row: dict, name: str) -> str:
    """A catalog entry: where it stands (on disk, partial, pull command), then what it needs and offers."""
    if row.get("usable"):
        first = _model_line({**row, "source": "catalog-file"}) + (f"  (as {row['on_disk']})" if row.get("on_disk") else "")
    elif "pinned" not in row:  # a downloaded entry whose file is broken
        return f"{name} {'—':>8}     unavailable: {row.get('error')}"
    else:
        partial = f", {row['partial'] / 1e6:.0f} MB partial (resumes)" if row.get("partial") else ""
        pin = f"pinned {row['pin']}" + (f" @ {row['revision'][:7]}" if row.get("revision") else "") \
            if row["pinned"] else "not pinned, pull it with"
        first = f"{name} {row['size'] / 1e6:>8.0f} MB  not downloaded{partial}; {pin}: {row['pull']}"
    license = (row.get("license") or "?") + (" (gated: accept its terms, then HF_TOKEN)" if row.get("gated") else "")
    return (f"{first}\n{'':16}   RAM {row.get('ram_gb') or '?'} GB, {row.get('speed') or '?'} on a laptop CPU, "
            f"{license} — {row.get('good_at') or ''}")


def _suggestion(rows: list, ram: int) -> str:
    best = next((r for r in rows if r.get("suggested")), None)
    head = f"suggested for this machine ({ram / 1e9:.0f} GB RAM)"
    if best is None:
        return f"{head}: no catalog model fits; keep the embedded gemma3-270m"
    use = f"summarize FILE --model {best['name']}"
    return f"{head}: {best['name']} — {use if best.get('usable') else best['pull'] + ', then ' + use}"


@models_app.command("pull", help="Download a catalog model, verified against its pinned sha256 and size "
                    "(explicit network access; fails clearly offline).")
def models_pull(name: str, offline: bool = typer.Option(False, "--offline", help="Refuse any download."),
                sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected sha256, for an entry the catalog "
                                                     "does not pin (with --size)."),
                size: Optional[int] = typer.Option(None, "--size", help="Expected size in bytes (with --sha256).")) -> None:
    from . import models
    from .pull_view import RichPull

    if offline:
        os.environ["SUMMARIZE_OFFLINE"] = "1"
    try:
        typer.echo(str(models.pull(name, sha256=sha256, size=size, progress=RichPull())))
    except KeyboardInterrupt:
        typer.echo("summarize: interrupted — run the same command again: the download resumes", err=True)
        raise typer.Exit(130)
    except Exception as err:  # noqa: BLE001
        _fail(err, False)


@cache_app.command("stats", help="Entries, hits and size of the cache.")
def cache_stats(cache_dir: Optional[str] = CacheDirOpt) -> None:
    from . import paths
    from .cache import Cache

    try:
        typer.echo(json.dumps(Cache(paths.cache_dir(cache_dir)).stats(), indent=2))
    except Exception as err:  # noqa: BLE001
        _fail(err, False)


@cache_app.command("clear", help="Delete every cached summary.")
def cache_clear(cache_dir: Optional[str] = CacheDirOpt) -> None:
    from . import paths
    from .cache import Cache

    try:
        typer.echo(f"removed {Cache(paths.cache_dir(cache_dir)).clear()} cached summaries")
    except Exception as err:  # noqa: BLE001
        _fail(err, False)


@app.command("batch", help="Summarize a corpus (files, folders, globs) into --out: resumable, one error per bad file.")
def batch(
    inputs: List[str] = typer.Argument(..., help="Files, folders (searched recursively; hidden entries skipped) or quoted globs."),
    out: str = typer.Option(..., "--out", "-o", help="Output folder: one .md per document, manifest.jsonl, sobriety.json."),
    model: Optional[str] = ModelOpt,
    length: Length = typer.Option(Length.medium, "--length", "-l", help="Summary length."),
    synthese: bool = typer.Option(True, "--synthese/--no-synthese", help="Write synthese.md: a French synthesis of the corpus citing its files (one model call, cached)."),
    watts: Optional[float] = typer.Option(None, "--watts", help="CPU package power for the energy estimate (default 20 W; env SUMMARIZE_WATTS)."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="Final report as text tables or json."),
    cache_dir: Optional[str] = CacheDirOpt,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache (no resume)."),
    ctx: Optional[int] = typer.Option(None, "--ctx", help="Context size cap (default ≤ 4096)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: the physical cores a foreign load leaves free; a number is kept as is)."),
    parallel: int = typer.Option(8, "--parallel", min=1, max=8, help="Documents decoded together (multi-sequence)."),
    max_bytes: int = typer.Option(10_000_000, "--max-bytes", help="Refuse documents larger than this."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Refuse documents longer than this many tokens (env SUMMARIZE_MAX_TOKENS)."),
    gpu_layers: Optional[str] = GpuLayersOpt,
    server_kind: Optional[str] = ServerKindOpt,
    api_key_env: Optional[str] = ApiKeyEnvOpt,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="With a server URL: requests in flight at once "
                                       "(default: the server's slots; 1 for ollama)."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (this process) or ray (a Ray Data actor pool; pip install 'summarize[ray]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to use (default $RAY_ADDRESS; unset: a local Ray; auto: this node's cluster)."),
    ray_actors: Optional[int] = typer.Option(None, "--ray-actors", min=1, help="Actors (model copies; default: as many as fit). Each reserves --threads Ray CPUs and runs that many threads; without --threads, 1 CPU and threads from its node's free cores."),
    ray_ship: bool = typer.Option(False, "--ray-ship", help="Send each document's text with its row instead of a path every node must reach."),
    no_cite: bool = NoCiteOpt,
    verbose: bool = VerboseOpt,
) -> None:
    from rich.console import Console

    from .backends import RemoteOptions
    from .batch import BatchOptions, run_batch
    from .batch.view import RichObserver, print_summary

    ray_options = None
    if engine is Engine.ray:
        from .engines.ray_data import RayOptions  # imports no ray: that waits for a cache miss

        ray_options = RayOptions(address=ray_address, actors=ray_actors, ship=ray_ship)
    options = BatchOptions(out=out, model=model, length=length.value, cache_dir=cache_dir, use_cache=not no_cache,
                           ctx=ctx, threads=threads, max_bytes=max_bytes, max_tokens=max_tokens, watts=watts,
                           synthese=synthese, verbose=verbose, parallel=parallel, gpu_layers=gpu_layers, cite=not no_cite,
                           engine=engine.value, ray=ray_options)
    view = RichObserver()
    try:
        options.remote = RemoteOptions(kind=server_kind, api_key_env=api_key_env, jobs=jobs)
        result = run_batch(inputs, options, view)
    except (SummarizeError, KeyboardInterrupt, Exception) as err:  # noqa: BLE001
        view.stop()
        _fail(err, verbose)
    view.stop()
    if fmt is Format.json:
        typer.echo(json.dumps({"counts": result.counts, "sobriety": result.report.as_dict(), "out": str(result.out),
                               "synthesis": str(result.synthesis) if result.synthesis else None,
                               "synthesis_error": result.synthesis_error,
                               "interrupted": result.interrupted}, ensure_ascii=False, indent=2))
    else:
        print_summary(result, Console())
    raise typer.Exit(result.exit_code)


@app.command("synth", help="Write OUT/synthese.md: a French synthesis of a batch's summaries, citing each source.")
def synth(
    out: str = typer.Argument(..., help="A folder written by `summarize batch --out`."),
    model: Optional[str] = ModelOpt,
    cache_dir: Optional[str] = CacheDirOpt,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
) -> None:
    from .batch.synthesis import synth_from_out

    try:
        path, _ = synth_from_out(out, model=model, cache_dir=cache_dir, use_cache=not no_cache)
    except (SummarizeError, KeyboardInterrupt, Exception) as err:  # noqa: BLE001
        _fail(err, False)
    typer.echo(str(path))


@app.command("eval", help="Score summaries of a JSONL set of {id, document, reference} with ROUGE (paper and Unicode scorers).")
def eval_cmd(
    data: str = typer.Argument(..., help="JSONL file, e.g. shared/eval/orangesum/dev.jsonl."),
    model: Optional[str] = ModelOpt,
    length: Length = typer.Option(Length.short, "--length", "-l", help="Summary length (news abstracts: short)."),
    system_field: Optional[str] = typer.Option(None, "--system-field", help="Score this field of each line instead of running a model (also the computed baselines lead-1, lead-45, extractive)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Only the first N documents."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write one JSON line per document (summary, method, scores) here."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: the physical cores a foreign load leaves free; a number is kept as is)."),
    use_cache: bool = typer.Option(False, "--cache", help="Read and write the summary cache (off: timings are real)."),
    cache_dir: Optional[str] = CacheDirOpt,
    verbose: bool = VerboseOpt,
) -> None:
    from .evaluate import run_cli_eval

    try:
        typer.echo(run_cli_eval(data, model=model, length=length.value, system_field=system_field, limit=limit,
                                as_json=as_json, output=output, threads=threads, use_cache=use_cache,
                                cache_dir=cache_dir))
    except (SummarizeError, KeyboardInterrupt, Exception) as err:  # noqa: BLE001
        _fail(err, verbose)


@app.command("serve", help="A local web page (in French) to summarize documents and corpora: "
             "http://127.0.0.1:PORT/?token=… (needs pip install 'summarize[web]').")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default 127.0.0.1: this machine "
                             "only; 0.0.0.0 opens the page to your network, with a warning)."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: a free one)."),
    open_page: bool = typer.Option(False, "--open", help="Open the page in your browser."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="The page's default model (a name, path or URL, "
                                        "as for summarize FILE); the page offers the models `summarize models` lists."),
    length: Length = typer.Option(Length.medium, "--length", "-l", help="The page's default length."),
    cache_dir: Optional[str] = CacheDirOpt,
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: the physical cores a "
                                          "foreign load leaves free; a number is kept as is)."),
    gpu_layers: Optional[str] = GpuLayersOpt,
    max_files: int = typer.Option(20, "--max-files", min=1, help="Files one upload may hold."),
    max_upload_mb: float = typer.Option(50, "--max-upload-mb", min=0.001, help="Size of one upload, in MB."),
    max_bytes: int = typer.Option(10_000_000, "--max-bytes", help="Size of one document (as for summarize FILE)."),
    verbose: bool = VerboseOpt,
) -> None:
    from .web import ServeOptions, is_loopback, open_browser, serve as run_server
    from .web.security import Limits

    if not is_loopback(host):
        typer.echo(f"summarize: warning: listening on {host}: other machines of your network can reach this page. "
                   "The token still guards it, but the traffic is not encrypted; use 127.0.0.1 unless you mean it.",
                   err=True)

    def ready(server) -> None:  # noqa: ANN001 - web.Ready
        typer.echo(f"summarize serve: {server.url}")
        typer.echo("open this address (its token is the key to the page); Ctrl-C stops the server", err=True)
        if open_page:
            open_browser(server.url)

    options = ServeOptions(host=host, port=port, model=model, length=length.value, cache_dir=cache_dir, threads=threads,
                           gpu_layers=gpu_layers, verbose=verbose,
                           limits=Limits(max_files=max_files, max_total=int(max_upload_mb * 1_000_000),
                                         max_bytes=max_bytes))
    try:
        run_server(options, on_ready=ready)
    except KeyboardInterrupt:  # Ctrl-C is how the server is meant to stop
        typer.echo("summarize serve: stopped", err=True)
    except (SummarizeError, Exception) as err:  # noqa: BLE001
        _fail(err, verbose)


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args if not a.startswith("-") or a == "-"), None)
    if first is not None and first not in SUBCOMMANDS and not any(a in ("-h", "--help") for a in args[:1]):
        args.insert(0, "run")  # `summarize FILE` is `summarize run FILE`
    from .netguard import no_network

    # Only an explicit `models pull` may reach the network; every other command refuses it (issue 7).
    pulling = first == "models" and "pull" in args
    # `batch --engine ray` talks to its Ray cluster (loopback for a local Ray): the user asked for it.
    distributed = first == "batch" and any(a in ("--engine=ray",) or (a == "ray" and p == "--engine")
                                           for p, a in zip([""] + args, args))
    with contextlib.nullcontext() if pulling or distributed else no_network():
        app(args=args, prog_name="summarize")
