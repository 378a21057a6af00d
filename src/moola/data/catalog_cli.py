"""`moola data`: one table of every labeled and unlabeled version, split and synthetic cache."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the catalog as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from moola.data.catalog import build_catalog, format_table
    from moola.io import dumps_json
    from moola.paths import data_root

    root = data_root()
    catalog = build_catalog(root)
    if args.json:
        print(dumps_json(catalog), end="")
    else:
        print(format_table(catalog))
    return 0
