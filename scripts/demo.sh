#!/usr/bin/env bash
# Set up (idempotent) and run the main job on the shipped sample recordings:
# the nightly batch into a SQLite database, then the top of the review queue.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DB="${QA_DB:-qa_demo.db}"
status=0
.venv/bin/qa nightly recordings_sample --db "$DB" "$@" || status=$?
echo
echo "Top of the review queue (qa queue list --db $DB):"
.venv/bin/qa queue list --db "$DB" --limit 10
exit "$status"
