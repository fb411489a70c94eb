"""Where things live: the cache database, assembled models, user model files."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

APP = "summarize"
CACHE_ENV = "SUMMARIZE_CACHE_DIR"
MODELS_ENV = "SUMMARIZE_MODELS_DIR"
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``--cache-dir`` beats $SUMMARIZE_CACHE_DIR beats the platform's user cache dir."""
    chosen = override or os.environ.get(CACHE_ENV) or user_cache_dir(APP)
    return Path(chosen).expanduser()


def model_cache_dir() -> Path:
    """Where the embedded Gemma is reassembled: shared by every summary cache location."""
    return Path(os.environ.get("SUMMARIZE_MODEL_CACHE") or Path(user_cache_dir(APP)) / "models").expanduser()


def models_dirs() -> list[Path]:
    """Directories searched for user GGUF files, most specific first."""
    dirs = [Path(p).expanduser() for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "models", REPO_MODELS, Path(user_data_dir(APP)) / "models"]
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def pull_dir() -> Path:
    """Where `models pull` stores downloads."""
    first = os.environ.get(MODELS_ENV, "").split(os.pathsep)[0]
    return Path(first).expanduser() if first else Path(user_data_dir(APP)) / "models"
