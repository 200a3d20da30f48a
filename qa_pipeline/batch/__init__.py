"""Many calls: discover a night's recordings, run the per-call pipeline where the cores are, store each
result once, and say what happened."""

from qa_pipeline.batch.discover import Night, Rejected, discover, read_manifest, scan_directory
from qa_pipeline.batch.nightly import BatchOptions, Failure, RunSummary, run_nightly

__all__ = ["BatchOptions", "Failure", "Night", "Rejected", "RunSummary", "discover", "read_manifest", "run_nightly",
           "scan_directory"]
