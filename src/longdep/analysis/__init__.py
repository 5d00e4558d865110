"""From results/ to tables and figures: a results folder's tables loaded (data.py), accuracy summaries and
plots (figures.py), cost plots (scaling_figures.py), one style (style.py). Reads CSVs only: no training, no W&B."""
