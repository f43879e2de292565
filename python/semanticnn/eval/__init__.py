"""Evaluation: delivered accuracy of every system on every link, report.json and
report.png; `study` aggregates seeds."""

from semanticnn.eval.report import evaluate_run, plot_report, write_report

__all__ = ["evaluate_run", "plot_report", "write_report"]
