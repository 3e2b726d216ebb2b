"""Command line of the search API: serve it, or apply the schema.

python -m function_app.cli serve     # serve the index that exists
python -m function_app.cli migrate   # apply the schema to the configured database

The demo (`./dev demo`, which builds an index first) lives in demo/cli.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from function_app.settings import Settings, SettingsError

log = logging.getLogger("caption-search")


def migrate(settings: Settings) -> None:
    from core.connect import database_connector
    from core.database import apply_schema

    conn = database_connector(settings.database, register_vector=False)()
    apply_schema(conn)
    conn.close()
    print("schema applied")


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from function_app.api import create_api
    from function_app.resources import build_service

    started = time.perf_counter()
    try:
        service = build_service(settings)
    except ValueError as exc:  # e.g. a missing images folder: a setting, not a crash
        raise SystemExit(f"configuration error: {exc}") from None
    report = service.health()  # loads the bundle and opens a connection before the first request
    if report["status"] != "ok":
        print(f"warning: the index is not ready: {report}", file=sys.stderr)
    print(
        f"ready in {time.perf_counter() - started:.1f} s: "
        f"open http://{host}:{port}/  (API: /api/search?q=...)"
    )
    uvicorn.run(create_api(settings, lambda _: service), host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="caption-search", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="serve the existing index")
    serve_command.add_argument("--host", default="127.0.0.1")
    serve_command.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    commands.add_parser("migrate", help="apply the schema (idempotent)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    if args.command == "migrate":
        migrate(settings)
    else:
        serve(settings, args.host, args.port)


if __name__ == "__main__":
    main()
