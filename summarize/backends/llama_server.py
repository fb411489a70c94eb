"""llama-cpp-python's OpenAI-compatible server with this project's load policy (native.py).

    python -m summarize.backends.llama_server --model FILE.gguf [llama_cpp.server options]

The same server as ``python -m llama_cpp.server`` (same options), except that its weights are
loaded the way summarize loads them: on a CPU with AMX, without the extra buffer types whose
kernel crashes. The tests' real server (tests/llamaserver.py) and the remote benchmark start
this one; a user serving a model to `summarize --model http://...` on such a CPU can too.
"""
from __future__ import annotations

import sys


def main() -> None:
    from . import native

    chosen = native.install()  # before the server builds its Llama
    print(f"summarize: {chosen.reason}", file=sys.stderr, flush=True)
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
