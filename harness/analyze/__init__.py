"""`python -m harness.analyze <run or experiment>`: look inside trained runs (harness.reports.analysis)."""
