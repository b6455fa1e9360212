"""The report: statistics, forgetting deltas, Markdown and self-contained HTML."""
