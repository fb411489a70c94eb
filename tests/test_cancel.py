"""cancel.py: work stopped from another thread (the web page's cancel button, issue 21).

The real model: a summary cancelled in the middle of its generation raises ``Cancelled`` at
the next decoding step, caches nothing, and leaves the decoder as if the prompt had never been
seen, so the next summary on the same backend is the one a fresh process writes.
"""
from __future__ import annotations

import threading

import pytest

from summarize import Summarizer
from summarize.cancel import CancelToken, Cancelled, cancellable, check

from .conftest import SHORT_SEED

pytestmark = pytest.mark.slow


def test_check_raises_only_in_the_cancelled_thread():
    token = CancelToken()
    check()  # no token: nothing
    with cancellable(token):
        check()
        token.cancel()
        with pytest.raises(Cancelled):
            check()
        seen = []
        other = threading.Thread(target=lambda: seen.append(check()))  # another thread's work goes on
        other.start()
        other.join()
        assert seen == [None]
    check()  # outside the block again
    assert issubclass(Cancelled, KeyboardInterrupt)  # handled as an interrupt: a batch keeps what it finished


def _backend(gemma_path: str):
    from summarize.backends.llama_cpp import LlamaCppBackend
    from summarize.gguf import read_gguf

    return LlamaCppBackend(read_gguf(gemma_path), n_threads=1)  # fixed: the two summaries are compared


def test_a_cancelled_summary_stops_at_once_and_leaves_the_decoder_clean(gemma_path, tmp_path):
    text = SHORT_SEED.read_text(encoding="utf-8")
    backend = _backend(gemma_path)
    try:
        s = Summarizer("gemma3-270m", length="short", cache_dir=str(tmp_path / "cache"), backend=backend)
        token, pieces = CancelToken(), []

        def on_text(piece: str) -> None:
            pieces.append(piece)
            if len(pieces) == 3:
                token.cancel()

        with cancellable(token), pytest.raises(Cancelled):
            s.summarize_text(text, on_text=on_text)
        assert len(pieces) == 3  # not one more token was generated
        decoder = backend._decoders["single"]
        assert decoder.history[0] == []
        assert decoder.lib.llama_memory_seq_pos_max(decoder.memory, 0) == -1  # its KV cache is empty too
        assert s.cache.get(s.document_key(text)) is None  # nothing half done is cached
        after = s.summarize_text(text).summary
    finally:
        backend.close()
    fresh = _backend(gemma_path)
    try:
        reference = Summarizer("gemma3-270m", length="short", use_cache=False, backend=fresh).summarize_text(text)
    finally:
        fresh.close()
    assert after == reference.summary
