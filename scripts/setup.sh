#!/usr/bin/env bash
# Set up everything on a fresh machine: virtual environment, pinned dependencies,
# CPU torch, and the offline Whisper models under models/. Safe to re-run: when nothing it
# installs from has changed (a stamp of their checksums), a re-run only checks the models.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="${QA_EXTRAS:-dev}"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
STAMP=.venv/.qa-setup
WANT="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) extras=$EXTRAS"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
  # torch first and pinned: an unpinned torch would pull gigabytes of CUDA wheels.
  "${PIP[@]}" "torch==2.13.0"
  "${PIP[@]}" -e ".[${EXTRAS}]"
  # Resemblyzer (mono diarization) with --no-deps: its metadata requires the obsolete
  # "typing" backport and source-only "webrtcvad"; everything it imports (torch, librosa,
  # scipy, numpy, webrtcvad-wheels) is already installed and pinned above.
  "${PIP[@]}" --no-deps "resemblyzer==0.1.4"
  echo "$WANT" > "$STAMP"
fi
.venv/bin/qa models install > /dev/null
echo "set-up done: $(.venv/bin/qa --version)"
