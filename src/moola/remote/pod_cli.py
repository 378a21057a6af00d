"""`moola pod`: run one stage on a fresh GPU pod, show what it would pull, or launch a RunPod pod."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="pod_action", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run",
        help="check the GPU, decide from dvc.lock and the remote, pull inputs, run, push, verify, publish",
        description="What scripts/pod/bootstrap.sh runs after installing moola (docs/RUNPOD.md).",
    )
    run.add_argument("stage", help="dvc.yaml stage to run, e.g. pretrain_ts2vec or train")
    _remote_arguments(run)
    run.add_argument(
        "--branch", default=None, help="git branch that receives the result commit (default: the current branch)"
    )
    run.add_argument("--git-remote", default="origin", help="git remote that receives the branch")
    run.add_argument("--no-push", action="store_true", help="run the stage but upload nothing")
    run.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write a JSON report (device, seconds per phase, bytes pulled) to this file",
    )
    run.add_argument(
        "--install-seconds",
        type=float,
        default=None,
        help="install time measured by the bootstrap, copied into the report",
    )

    plan = actions.add_parser("plan", help="list the inputs a pod would pull for a stage")
    plan.add_argument("stage", help="dvc.yaml stage")

    actions.add_parser("check", help="check the device the way a pod does (no data is touched)")

    launch = actions.add_parser(
        "launch",
        help="create a RunPod pod that runs the bootstrap for a stage, stream its status, terminate it",
        description="Needs `pip install -e .[runpod]` and RUNPOD_API_KEY, except with --dry-run.",
    )
    launch.add_argument("stage", help="dvc.yaml stage the pod runs")
    launch.add_argument(
        "--repo-url", required=True, help="plain git URL the pod clones (a token goes in --secret MOOLA_GIT_TOKEN=NAME)"
    )
    launch.add_argument("--ref", default="main", help="branch, tag or commit the pod starts from")
    launch.add_argument(
        "--image",
        default="runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04",
        help="container image with CUDA torch",
    )
    launch.add_argument("--gpu", default="NVIDIA GeForce RTX 4090", help="RunPod GPU type id")
    launch.add_argument("--gpu-count", type=int, default=1)
    launch.add_argument("--cloud", default="SECURE", choices=["SECURE", "COMMUNITY", "ALL"])
    launch.add_argument("--network-volume", default=None, help="network volume id to mount at /workspace")
    launch.add_argument("--data-center", default=None, help="data center id (must match the volume's)")
    launch.add_argument("--container-disk-gb", type=int, default=30)
    launch.add_argument("--name", default=None, help="pod name (default moola-<stage>)")
    launch.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra pod environment; repeatable (values may be {{ RUNPOD_SECRET_name }})",
    )
    launch.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="KEY=SECRET_NAME",
        help="pod variable KEY taken from RunPod secret SECRET_NAME; repeatable",
    )
    launch.add_argument(
        "--timeout-min", type=float, default=240.0, help="terminate the pod after this many minutes whatever its state"
    )
    launch.add_argument("--poll-seconds", type=float, default=15.0, help="seconds between status checks")
    launch.add_argument(
        "--dry-run", action="store_true", help="print the exact request and the GraphQL it becomes; create nothing"
    )


def _remote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--remote",
        default=os.environ.get("MOOLA_DVC_REMOTE") or "s3",
        help="DVC remote to pull from and push to (default $MOOLA_DVC_REMOTE or s3)",
    )
    parser.add_argument(
        "--remote-url",
        default=os.environ.get("MOOLA_DVC_URL") or None,
        help="that remote's url for this job only (default $MOOLA_DVC_URL; not left in .dvc/config.local)",
    )


def _repo_root() -> Path:
    from moola.paths import project_root

    return project_root()


def run(args: argparse.Namespace) -> int:
    action = args.pod_action
    if action == "check":
        from moola.remote.pod import check_device

        print(json.dumps(check_device(_repo_root()), indent=2, sort_keys=True))
        return 0
    if action == "plan":
        from moola.remote.pod import plan_stage, tree_bytes

        root = _repo_root()
        plan = plan_stage(root, args.stage)
        if not plan.inputs:
            print(
                f"{args.stage}: nothing to pull (dvc.lock records none of its inputs; dvc repro makes them on the pod)"
            )
        for name in plan.inputs:
            size = tree_bytes(root / name)
            print(f"{name}\t{f'{size} bytes here' if size else 'not in this work tree'}")
        return 0
    if action == "launch":
        from moola.remote.launcher import launch_from_args

        return launch_from_args(args)

    from moola.io import write_json
    from moola.remote.pod import PodJob, run_pod_job

    job = PodJob(
        stage=args.stage,
        root=_repo_root(),
        remote=args.remote,
        remote_url=args.remote_url,
        branch=args.branch,
        git_remote=args.git_remote,
        push=not args.no_push,
    )
    report = run_pod_job(job, log=lambda line: print(line, flush=True))
    if args.install_seconds is not None:
        report.seconds["install"] = round(args.install_seconds, 3)
    if args.report is not None:
        write_json(args.report, report.to_dict())
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
    what = "already done, nothing run" if report.decision == "done" else "done"
    print(f"moola pod: {args.stage} {what} ({phases}; pulled {report.bytes_pulled} bytes)", file=sys.stdout)
    return 0
