#!/usr/bin/env bash
# Set up (idempotent) and run the main job on the shipped sample recordings:
# the nightly batch into a SQLite database, the top of the review queue, and the
# HR scorecard of the samples' last week as one HTML file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DB="${QA_DB:-qa_demo.db}"
status=0
.venv/bin/qa nightly recordings_sample --db "$DB" "$@" || status=$?
echo
echo "Top of the review queue (qa queue list --db $DB):"
.venv/bin/qa queue list --db "$DB" --limit 10
WEEK="2026-W47"  # the last week of the sample recordings
.venv/bin/qa scorecard --week "$WEEK" --format html --out "scorecard-$WEEK.html" --db "$DB"
echo
echo "Weekly scorecard: scorecard-$WEEK.html (qa scorecard --help for csv/xlsx/json)."
echo "Review app: .venv/bin/qa users add coach1 --role coach --password-stdin --db $DB, then .venv/bin/qa serve --db $DB"
exit "$status"
