#!/usr/bin/env bash
# Set up (idempotent) and run the main job on the shipped sample recordings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DB="${QA_DB:-qa_demo.db}"
exec .venv/bin/qa nightly recordings_sample --db "$DB" "$@"
