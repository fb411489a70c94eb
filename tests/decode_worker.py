"""A decoding process for the contention tests: load the default model, wait for a common
start instant, generate a fixed amount of text, print the seconds it took (model load excluded)."""
from __future__ import annotations

import json
import sys
import time

from summarize import models
from summarize.backends.base import GenSettings
from summarize.gguf import read_gguf
from summarize.backends.llama_cpp import LlamaCppBackend
from summarize.prompts import Prompt

PROMPTS = [
    "Le conseil municipal de Nantes a voté hier soir un budget en hausse pour les transports publics, "
    "avec de nouvelles lignes de tramway et",
    "Les chercheurs de l'université de Grenoble ont présenté une méthode pour mesurer la consommation "
    "d'énergie des modèles de langage exécutés sur",
]


def main(start: float, calls: int, tokens: int) -> None:
    backend = LlamaCppBackend(read_gguf(models.resolve("gemma3-270m").path))
    backend.ensure_loaded(0)
    time.sleep(max(0.0, start - time.time()))
    t0 = time.monotonic()
    out = 0
    for i in range(calls):
        gen = backend.generate(Prompt(text=PROMPTS[i % 2], stop=()), GenSettings(max_tokens=tokens, repeat_penalty=1.0))
        out += gen.tokens_out
    print(json.dumps({"seconds": time.monotonic() - t0, "tokens": out, "threads": backend.slots.threads()}))
    backend.close()


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
