"""The version of the code, part of every result's versions (a new version re-processes nothing by itself)."""

__version__ = "0.2.0"
