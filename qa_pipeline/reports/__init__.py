"""Reports for HR and QA leads: the weekly agent scorecard and the daily team report, rendered as CSV, XLSX,
HTML or JSON."""

from qa_pipeline.reports.render import (
           DAILY_FORMATS,
           FORMATS,
           render_csv,
           render_daily,
           render_scorecard,
           scorecard_trend_svg,
)
from qa_pipeline.reports.render import table as scorecard_table
from qa_pipeline.reports.scorecard import daily_report, parse_week, weekly_scorecard

__all__ = ["DAILY_FORMATS", "FORMATS", "daily_report", "parse_week", "render_csv", "render_daily", "render_scorecard",
           "scorecard_table", "scorecard_trend_svg", "weekly_scorecard"]
