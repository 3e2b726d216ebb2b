"""Command line of the search API: serve it, apply the schema, run the one-command demo.

python -m function_app.cli demo      # build the demo index on first run, then serve
python -m function_app.cli serve     # serve the index that exists
python -m function_app.cli migrate   # apply the schema to the configured database
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from function_app.settings import LOCAL_DATA, Settings, SettingsError

if TYPE_CHECKING:
    from indexing.database import Connection

log = logging.getLogger("caption-search")


def _connect(settings: Settings, *, register_vector: bool = True) -> Connection:
    from function_app.resources import database_connector

    return database_connector(settings, register_vector=register_vector)()


def migrate(settings: Settings) -> None:
    from indexing.database import apply_schema

    conn = _connect(settings, register_vector=False)
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


def demo(settings: Settings, host: str, port: int, rebuild: bool, max_images: int) -> None:
    from function_app.demo import build_demo, load_demo, reset_demo
    from indexing.bundle import BundleError, current_version

    demo_dir = LOCAL_DATA / "demo"
    if rebuild:
        reset_demo(settings, demo_dir)
    corpus = None if rebuild else load_demo(demo_dir)
    try:
        version = current_version(settings.model_share) if corpus else None
    except BundleError:
        version = None
    if corpus is None or version is None:
        print("building the demo (first run only; a few minutes on 2 idle cores) ...", flush=True)
        corpus = build_demo(settings, demo_dir, LOCAL_DATA / "cache", max_images)
    print(f"demo corpus: {corpus.source} drawings in {corpus.images_dir}", flush=True)
    os.environ["IMAGES_DIR"] = str(corpus.images_dir)
    serve(Settings.from_env(os.environ), host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="caption-search", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("demo", "build the demo index if needed, then serve"),
        ("serve", "serve the existing index"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        if name == "demo":
            command.add_argument("--rebuild", action="store_true", help="train and index the demo again")
            command.add_argument("--images", type=int, default=1000, help="demo corpus size (default 1000)")
    commands.add_parser(
        "migrate", help="apply the schema (idempotent)", description="apply the schema (idempotent)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "serve":
        if "IMAGES_DIR" not in os.environ and settings.image_store == "folder":
            from function_app.demo import load_demo

            demo_corpus = load_demo(LOCAL_DATA / "demo")  # after ./dev demo, serve its pictures
            if demo_corpus is not None:
                os.environ["IMAGES_DIR"] = str(demo_corpus.images_dir)
                settings = Settings.from_env(os.environ)
        serve(settings, args.host, args.port)
    else:
        demo(settings, args.host, args.port, args.rebuild, args.images)


if __name__ == "__main__":
    main()
