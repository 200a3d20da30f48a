"""qa_pipeline: offline speech quality assurance for call centres."""

__version__ = "0.2.0"
