"""`python -m relink.sandbox_bank --port N [--host H] [--database-url URL]
[--tls-cert PEM --tls-key PEM [--client-ca PEM]]`."""

from __future__ import annotations

import argparse

from relink.sandbox_bank.app import DEFAULT_DATABASE_URL, TlsFiles, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m relink.sandbox_bank")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--tls-cert", help="Serve HTTPS with this certificate (PEM).")
    parser.add_argument("--tls-key", help="The certificate's private key (PEM).")
    parser.add_argument("--client-ca", help="Require client certificates signed by this CA (PEM).")
    parser.add_argument(
        "--pages-port",
        type=int,
        help="Also listen here (TLS without client certificates) for holders' browsers.",
    )
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key) or (args.client_ca and not args.tls_cert):
        parser.error("--tls-cert and --tls-key go together; --client-ca needs them")
    tls = TlsFiles(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    run(args.port, args.host, args.database_url, tls=tls, pages_port=args.pages_port)


if __name__ == "__main__":
    main()
