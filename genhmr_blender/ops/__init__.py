"""Operators: analyse a video, import a result file, cancel a running analysis."""
