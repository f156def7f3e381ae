"""Command-line options shared by the station's commands (and the pipeline's own commands,
which must not import app.cli: it imports the window)."""

from __future__ import annotations

import argparse


def storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="config, database, Redis, logs and library under one folder [INGEST_DATA_DIR]")
    parser.add_argument("--config", dest="config_file", metavar="FILE", help="TOML config file")
    parser.add_argument("--db-url", metavar="URL", help="sqlite:///PATH or postgresql+psycopg://USER@HOST/DB [INGEST_DB_URL]")
    parser.add_argument("--log-level", metavar="L", help="DEBUG, INFO, WARNING or ERROR")
