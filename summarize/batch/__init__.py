"""The batch job: a corpus summarized unattended, resumably, one isolated failure at a time.

    from summarize.batch import BatchOptions, run_batch
    result = run_batch(["rapports/"], BatchOptions(out="resumes"))

Modules: job (``run_batch`` and the crash-safe order of its writes), corpus (files, folders
and globs → an ordered list of documents), journal (manifest lines appended whole, outputs
written atomically, the crash tests' hooks), leases (processes sharing a cache split the
work), view (the terminal's progress bar and tables), synthesis (synthese.md: one cited
text over the corpus's summaries, also ``summarize synth OUT``). The engines (engines/) run
the per-document work and take their ``Item`` from corpus.

Public surface: ``run_batch``, ``BatchOptions``, ``BatchResult``, ``Observer``, ``Job``,
``render_markdown``, ``REPORT``; the journal's ``MANIFEST``, ``CRASH_ENV``, ``append_row``,
``read_manifest``, ``repair_journal``. Names load lazily: an engine importing
``batch.corpus`` does not import the job (which imports the engines and the summarizer).
"""
from __future__ import annotations

from ..lazy import names

_WHERE = {"run_batch": "job", "BatchOptions": "job", "BatchResult": "job", "Observer": "job", "Job": "job",
          "render_markdown": "job", "REPORT": "job", "MANIFEST": "journal", "CRASH_ENV": "journal",
          "append_row": "journal", "read_manifest": "journal", "repair_journal": "journal"}
__all__ = sorted(_WHERE)

__getattr__ = names(__name__, _WHERE)
