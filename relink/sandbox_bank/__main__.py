"""`python -m relink.sandbox_bank --port N [--host H] [--database-url URL]`."""

from __future__ import annotations

import argparse

from relink.sandbox_bank.app import DEFAULT_DATABASE_URL, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relink.sandbox_bank")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    run(args.port, args.host, args.database_url)


if __name__ == "__main__":
    main()
