"""Labelled call folders (a ``manifest.csv`` beside a ``labels.json``): the sample calls and the voiced
evaluation sets share this layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def load_manifest(samples: Path) -> tuple[list[dict[str, str]], dict[str, Any]]:
    rows = list(csv.DictReader((samples / "manifest.csv").open(encoding="utf-8"))) if (samples / "manifest.csv").exists() else []
    labels = json.loads((samples / "labels.json").read_text(encoding="utf-8")) if (samples / "labels.json").exists() else {}
    return rows, labels.get("calls", {})
