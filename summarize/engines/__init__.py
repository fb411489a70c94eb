"""Batch engines: where the per-document work runs.

``local``: this process (summarize/batch/job.py). ``ray``: a Ray Data actor pool
(engines/ray_data.py, imported only when asked for: a plain install never imports ray).
Both call the same per-document code path, engines/document.py.
"""
ENGINES = ("local", "ray")
