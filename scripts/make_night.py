"""A night of N calls from the sample calls, for `qa bench nightly` at scale (issue 18: how time grows with the
number of calls).

Each copy is the sample call with a few milliseconds of silence appended (copy k: k x 10 ms), so every file has
its own content hash: the transcript cache, keyed by the audio's hash, cannot serve one copy's transcript to
another, and every call of the night is really transcribed. The copies keep the originals' labels (the same
scripts), so the night is scored for WER/CER like the sample folder.

    .venv/bin/python scripts/make_night.py --calls 100 --out /tmp/night100
    .venv/bin/qa bench nightly /tmp/night100 --workers 1 --batch-calls 4 --no-peers
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=Path, default=ROOT / "recordings_sample")
    args = parser.parse_args()
    with (args.samples / "manifest.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels = json.loads((args.samples / "labels.json").read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    out_rows, out_labels = [], {"schema": labels.get("schema"), "calls": {}}
    for n in range(args.calls):
        row, copy = rows[n % len(rows)], n // len(rows)
        call_id = row["call_id"] if copy == 0 else f"{row['call_id']}_copy{copy}"
        data, rate = sf.read(args.samples / row["path"], dtype="float32", always_2d=True)
        data = np.concatenate([data, np.zeros((int(rate * 0.01 * copy), data.shape[1]), dtype=np.float32)])
        name = f"{call_id}.flac"
        sf.write(args.out / name, data, rate, format="FLAC", subtype="PCM_16")
        out_rows.append({**row, "call_id": call_id, "path": name})
        if row["call_id"] in labels["calls"]:
            out_labels["calls"][call_id] = labels["calls"][row["call_id"]]
    with (args.out / "manifest.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    (args.out / "labels.json").write_text(json.dumps(out_labels, ensure_ascii=False), encoding="utf-8")
    print(f"{len(out_rows)} calls in {args.out}")


if __name__ == "__main__":
    main()
