"""From results/ to tables and figures: tidy records, summaries, plots."""
