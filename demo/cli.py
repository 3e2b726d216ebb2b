"""Command line of the demo: `./dev demo` and `./dev serve` run it.

python -m demo.cli demo      # build the demo index on first run, then serve
python -m demo.cli serve     # serve the index that exists (the demo's pictures unless IMAGES_DIR is set)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os

from core.settings import LOCAL_DATA, SettingsError
from demo.build import DEMO_IMAGES, DemoCorpus, build_demo, load_demo, reset_demo
from function_app.cli import serve
from function_app.settings import Settings
from indexing.settings import IndexSettings

DEMO_DIR = LOCAL_DATA / "demo"


def _with_images(settings: Settings, corpus: DemoCorpus) -> Settings:
    images = dataclasses.replace(settings.images, kind="folder", images_dir=corpus.images_dir)
    return dataclasses.replace(settings, images=images)


def run_demo(host: str, port: int, rebuild: bool, max_images: int) -> None:
    from core.bundle import BundleError, current_version
    from core.database import DatabaseUnavailable
    from indexing.session import IndexingError

    settings = Settings.from_env(os.environ)
    index_settings = IndexSettings.from_env(os.environ)
    if rebuild:
        reset_demo(index_settings, DEMO_DIR, share_is_default="MODEL_SHARE_PATH" not in os.environ)
    corpus = None if rebuild else load_demo(DEMO_DIR)
    try:
        version = current_version(settings.model_share) if corpus else None
    except BundleError:
        version = None
    if version is not None and indexed_rows(settings, version) == 0:
        # The bundle is on the share but its rows are not in this database: a new embedded
        # PostgreSQL data folder (a new server major version), or a database emptied by hand.
        print(f"the database holds no rows of the demo's bundle {version}: indexing again", flush=True)
        corpus = None
    if corpus is None or version is None:
        print("building the demo (first run only; a few minutes on 2 idle cores) ...", flush=True)
        try:
            corpus = build_demo(index_settings, DEMO_DIR, LOCAL_DATA / "cache", max_images)
        except (IndexingError, BundleError, DatabaseUnavailable) as exc:
            raise SystemExit(
                f"indexing the demo corpus failed ({exc}); run ./dev demo again to resume"
            ) from None
    print(f"demo corpus: {corpus.source} drawings in {corpus.images_dir}", flush=True)
    serve(_with_images(settings, corpus), host, port)


def indexed_rows(settings: Settings, version: str) -> int:
    """Rows of ``version`` in the configured database; 0 when it cannot be read."""
    from core.connect import database_connector
    from function_app.index_reader import count_images

    try:
        conn = database_connector(settings.database)()
    except Exception:  # any failure to connect: the index must be built
        return 0
    try:
        return count_images(conn, version)
    except Exception:  # e.g. no schema yet
        return 0
    finally:
        conn.close()


def serve_existing(host: str, port: int) -> None:
    settings = Settings.from_env(os.environ)
    if "IMAGES_DIR" not in os.environ and settings.images.kind == "folder":
        corpus = load_demo(DEMO_DIR)  # after ./dev demo, serve its pictures
        if corpus is not None:
            settings = _with_images(settings, corpus)
    serve(settings, host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.cli", description=__doc__.split("\n\n")[0])
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
            command.add_argument(
                "--images", type=int, default=DEMO_IMAGES, help=f"demo corpus size (default {DEMO_IMAGES})"
            )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            run_demo(args.host, args.port, args.rebuild, args.images)
        else:
            serve_existing(args.host, args.port)
    except SettingsError as exc:
        raise SystemExit(f"configuration error: {exc}") from None


if __name__ == "__main__":
    main()
