#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
QA_EXTRAS="${QA_EXTRAS:-dev}" bash scripts/setup.sh
bash scripts/install_test_packages.sh
.venv/bin/ruff check qa_pipeline tests scripts
.venv/bin/lint-imports --no-cache  # the layers of DESIGN.md (.importlinter)
exec .venv/bin/python -m pytest "$@"
