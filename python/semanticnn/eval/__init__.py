"""Evaluation: accuracy against BER for the five systems, report.json and report.png."""

from semanticnn.eval.report import evaluate_run, plot_report, write_report

__all__ = ["evaluate_run", "plot_report", "write_report"]
