"""The review web app (`qa serve`): FastAPI + Jinja2 pages over the same Python API as the CLI."""
