"""`python -m harness.export PATH [--format csv|parquet|markdown|json] [--out FILE] [--history] [--columns ...]`:
the results under PATH as a table (harness.reports.export)."""

import sys

from harness.reports.export import main

if __name__ == "__main__":
    sys.exit(main())
