"""`moola audit <manifest>`: re-verify a run from its manifest, one ✓/✗ line per claim (– for one not re-derivable)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="a run manifest, e.g. artifacts/runs/latest/manifest.json")


def run(args: argparse.Namespace) -> int:
    from moola.errors import MoolaError
    from moola.lineage.audit import audit_manifest, load_manifest
    from moola.paths import project_root

    manifest = load_manifest(args.manifest)
    claims = audit_manifest(manifest, project_root(), manifest_file=args.manifest)
    print(f"audit of run {manifest['run_id']} ({manifest['model'].get('name')}) from {args.manifest}")
    for claim in claims:
        print(claim.line())
    failed = [claim for claim in claims if not claim.ok]
    if failed:
        raise MoolaError(
            f"{len(failed)} of {len(claims)} claims of {args.manifest} do not hold (first: {failed[0].name}): "
            "the run cannot be trusted; rebuild the changed inputs or rerun the pipeline"
        )
    unchecked = [claim for claim in claims if not claim.checked]
    checked = len(claims) - len(unchecked)
    if unchecked:
        print(
            f"all {checked} checked claims hold; {len(unchecked)} not re-derivable from what the run stored: "
            + ", ".join(claim.name for claim in unchecked)
        )
    else:
        print(f"all {checked} claims hold")
    return 0
