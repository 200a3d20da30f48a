"""What every stage stands on: audio ingest, offline models, the shared text embedder, text normalisation
and sound keys."""
