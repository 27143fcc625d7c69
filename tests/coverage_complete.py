"""Fail when a module listed as fully covered is not (`make test` runs this after pytest).

The list is `modules` under `[tool.relink.coverage_complete]` in pyproject.toml: paths
from the repository's root, or globs of them (`relink/outbox/*.py`). Each must be at 100%
of its statements and branches in the coverage data the test run left in `.coverage`, and
each must match a measured file, so a moved or renamed module cannot drop out unnoticed.
"""

from __future__ import annotations

import fnmatch
import sys
import tomllib
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parent.parent


def listed_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    modules: list[str] = config["tool"]["relink"]["coverage_complete"]["modules"]
    return modules


def main() -> int:
    patterns = listed_modules()
    if not patterns:
        print("coverage_complete: no modules listed")
        return 0
    cov = coverage.Coverage(
        data_file=str(ROOT / ".coverage"), config_file=str(ROOT / "pyproject.toml")
    )
    cov.load()
    measured = [
        Path(path).resolve().relative_to(ROOT).as_posix()
        for path in cov.get_data().measured_files()
    ]
    unmatched = [
        pattern
        for pattern in patterns
        if not any(fnmatch.fnmatch(path, pattern) for path in measured)
    ]
    if unmatched:
        for pattern in unmatched:
            print(f"coverage_complete: {pattern} matches no measured file (moved or renamed?)")
        return 1
    print("Modules held at 100% coverage ([tool.relink.coverage_complete] in pyproject.toml):")
    total = cov.report(
        include=[str(ROOT / pattern) for pattern in patterns],
        show_missing=True,
        skip_covered=False,
        precision=2,
    )
    if total < 100:
        print(f"coverage_complete: {total:.2f}% of the listed modules, not 100%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
