#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. CI calls exactly this (the whole suite).
#   bash scripts/test.sh            every tier: unit, asr (real models on real audio), web (httpx and Chromium)
#   bash scripts/test.sh --fast     the unit tier only: no Whisper, under a minute
# Any other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0
if [ "${1:-}" = "--fast" ]; then FAST=1; shift; fi
QA_EXTRAS="${QA_EXTRAS:-dev}" bash scripts/setup.sh
.venv/bin/ruff check qa_pipeline tests scripts
.venv/bin/lint-imports --no-cache > /dev/null || .venv/bin/lint-imports --no-cache  # the layers (.importlinter)
if [ "$FAST" = 1 ]; then
  # the unit tests share nothing but the read-only reference database: one process per core
  exec .venv/bin/python -m pytest tests/unit -n auto --dist worksteal "$@"
fi
bash scripts/install_test_packages.sh
exec .venv/bin/python -m pytest "$@"
