"""The SQLite store: machine results, the review queue, and every human decision (reviews, verdicts,
disputes, users), kept apart so that re-processing never touches what a person decided."""

from qa_pipeline.store.db import Store

__all__ = ["Store"]
