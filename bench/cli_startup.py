"""Benchmark: ``relink`` command start-up (speed round two: "a fast CLI").

How much interpreter time a command costs before and while it does its work, as an
operator runs it: the console script in a fresh process, its CPU time (user + system,
read from the child's rusage, so other processes on a shared machine weigh less than on
a wall clock):

- ``help``: ``relink --help``;
- ``dry run``: ``relink request-relink --platform … --mode test --dry-run`` over the demo
  book (300 accounts) in a SQLite file, which imports the settings, the database and the
  eligibility rules, runs the preview and prints it;
- floor, in the same run: ``python -c pass`` in the same interpreter (what any command
  costs at the least).

The budget is absolute (under 0.3 s of interpreter time); the ratio is floor / figure.
Prints, per case, the median of ``--repeat`` runs of ``--runs`` starts each.

    python -m bench.cli_startup                # 5 starts per case, 3 repeats
    python -m bench.cli_startup --smoke        # 1 start per case, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._common import Figure, emit

RELINK = Path(sys.executable).with_name("relink")
SECRET_KEY = "bench-secret-key-bench-secret-key"


def cpu_seconds(command: list[str], env: dict[str, str]) -> float:
    """The child's user + system time (it must succeed)."""
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{command} exited with {child.returncode}")
    return usage.ru_utime + usage.ru_stime


def demo_environment(home: Path) -> tuple[dict[str, str], str]:
    """A SQLite file with the demo platform and its book; the platform's id."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELINK_")}
    # As an installed command runs: with compiled bytecode (the first start writes it
    # under the run's own folder, the measured starts read it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    env.update(
        RELINK_DATABASE_URL=f"sqlite:///{home / 'relink.db'}",
        RELINK_SECRET_KEY=SECRET_KEY,
        RELINK_VAR_DIR=str(home),
    )
    subprocess.run([str(RELINK), "migrate"], env=env, check=True, capture_output=True)
    shown = subprocess.run(
        [str(RELINK), "demo"], env=env, check=True, capture_output=True, text=True
    ).stdout
    platform = next(
        line.split()[-1] for line in shown.splitlines() if line.strip().startswith("Platform:")
    )
    return env, platform


def measure(runs: int, repeat: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="relink-bench-cli-") as folder:
        env, platform = demo_environment(Path(folder))
        cases = {
            "help": [str(RELINK), "--help"],
            "dry run": [
                str(RELINK),
                "request-relink",
                "--platform",
                platform,
                "--mode",
                "test",
                "--dry-run",
            ],
        }
        floor_command = [sys.executable, "-c", "pass"]
        # Warm the bytecode cache once, as a second run of any installed command is.
        for command in cases.values():
            cpu_seconds(command, env)
        figures = []
        for name, command in cases.items():
            values, floors = [], []
            for _ in range(repeat):
                values.append(statistics.median(cpu_seconds(command, env) for _ in range(runs)))
                floors.append(
                    statistics.median(cpu_seconds(floor_command, env) for _ in range(runs))
                )
            value, floor = statistics.median(values), statistics.median(floors)
            figures.append(
                Figure(
                    benchmark="cli start-up",
                    variant=name,
                    n=runs,
                    unit="s",
                    value=value,
                    floor=floor,
                    ratio=floor / value if value else None,
                    runs=values,
                    line=(
                        f"cli start-up [{name}]: {value:.3f} s of interpreter time "
                        f"(floor `python -c pass` {floor:.3f} s, ratio {floor / value:.3f}); "
                        f"budget < 0.3 s"
                    ),
                )
            )
        return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", action="store_true")
    # Accepted for `python -m bench` (one engine: the dry run uses SQLite either way).
    parser.add_argument("--engines", default="sqlite")
    args = parser.parse_args(argv)
    runs, repeat = (1, 1) if args.smoke else (args.runs, args.repeat)
    emit(measure(runs, repeat), as_json=args.json)


if __name__ == "__main__":
    main()
