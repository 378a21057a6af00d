"""The DVC remote as a pod sees it: access check with one-line errors, object presence, small files."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

from moola.errors import MoolaError

log = logging.getLogger(__name__)

RESUME_FOLDER = "moola-resume"  # beside DVC's files/ and runs/ on the remote


@dataclasses.dataclass
class RemoteFacts:
    """Where a DVC remote points, for messages (never holds a credential)."""

    name: str
    url: str
    endpoint: str  # "" for a local folder remote

    @property
    def bucket(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return rest.split("/", 1)[0] if scheme in ("s3", "gs", "azure") else ""


def explain_remote_failure(text: str, facts: RemoteFacts) -> str | None:
    """Turn an S3 client's failure text into one line that says what to check; None if not known.

    Args:
        text: the exception text or DVC's error output.
        facts: the remote it was talking to.

    Returns:
        A message without a trailing period, or None when the text matches no known cause.
    """
    where = f"DVC remote {facts.name!r} ({facts.url}"
    where += f" at {facts.endpoint})" if facts.endpoint else ")"
    lowered = text.lower()
    if "invalidaccesskeyid" in lowered or "access key id you provided does not exist" in lowered:
        return (
            f"{where} does not know the access key AWS_ACCESS_KEY_ID: check that it is the key id "
            "of this store (for RunPod, your user_... id) and not a key of another account"
        )
    if "signaturedoesnotmatch" in lowered or "signature we calculated does not match" in lowered:
        return (
            f"{where} refused the secret: AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID; "
            "check it (for RunPod, an S3 API key rps_..., not the RunPod API key)"
        )
    if "nosuchbucket" in lowered or "specified bucket does not exist" in lowered:
        return (
            f"bucket {facts.bucket!r} does not exist at {facts.endpoint or 'the default AWS endpoint'}: "
            f"create it, or point the remote at an existing one (MOOLA_DVC_URL or "
            f"`dvc remote modify {facts.name} url s3://BUCKET/PATH`)"
        )
    if (
        "could not connect to the endpoint" in lowered
        or "endpointconnectionerror" in lowered
        or "connection refused" in lowered
        or "name or service not known" in lowered
    ):
        return (
            f"endpoint {facts.endpoint or 'of the default AWS region'} of DVC remote {facts.name!r} "
            "is unreachable: check AWS_ENDPOINT_URL (or the remote's endpointurl), the network, "
            "and that the store is running"
        )
    if "nocredentialserror" in lowered or "unable to locate credentials" in lowered:
        return (
            f"{where}: no credentials found: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or set them with `dvc remote modify --local`)"
        )
    if "accessdenied" in lowered or "access denied" in lowered or "forbidden" in lowered or "(403)" in lowered:
        return (
            f"{where} denied access: the key is valid but may not read or write bucket "
            f"{facts.bucket!r}; check the key's permissions (bucket policy, IAM) and the region"
        )
    return None


def open_repo(root: Path):
    """A `dvc.repo.Repo` of the project (the caller closes it)."""
    from dvc.repo import Repo

    return Repo(os.fspath(root))


def remote_facts(repo: Any, name: str) -> RemoteFacts:
    """Read a remote's url and endpoint from the merged DVC config (no network)."""
    config = repo.config.get("remote", {}).get(name)
    if config is None:
        known = ", ".join(sorted(repo.config.get("remote", {}))) or "none"
        raise MoolaError(
            f"DVC remote {name!r} is not configured in .dvc/config (known: {known}): "
            f"add it with `dvc remote add {name} s3://BUCKET/PATH` or pick another with --remote"
        )
    url = str(config.get("url", ""))
    endpoint = ""
    if "://" in url and not url.startswith(("file://", "local://")):
        endpoint = str(config.get("endpointurl") or os.environ.get("AWS_ENDPOINT_URL") or "")
    return RemoteFacts(name=name, url=url, endpoint=endpoint)


class RemoteStore:
    """One DVC remote through DVC's own filesystem: checks, object presence, resume-state files."""

    def __init__(self, repo: Any, name: str):
        self.repo = repo
        self.name = name
        self.facts = remote_facts(repo, name)
        remote = repo.cloud.get_remote(name, "moola pod")
        self.fs = remote.fs
        self.path = remote.path

    def fail(self, exc: BaseException, doing: str) -> MoolaError:
        """The one-line error for a failed remote call (classified when the cause is known)."""
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        text = f"{type(exc).__name__} {exc} {type(cause).__name__} {cause}"
        explained = explain_remote_failure(text, self.facts)
        if explained is None:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            explained = (
                f"{doing} on DVC remote {self.name!r} ({self.facts.url}) failed: {first}; "
                "check the remote's url, endpoint and credentials"
            )
        return MoolaError(explained)

    def check_access(self) -> None:
        """List the bucket (or folder) once, so a wrong key, secret, bucket or endpoint fails first.

        Raises:
            MoolaError: one line naming the cause and what to check.
        """
        bucket = self.facts.bucket
        try:
            if bucket:
                self.fs.ls(bucket, detail=False)
            else:
                self.fs.makedirs(self.path, exist_ok=True)
        except FileNotFoundError as exc:
            raise self.fail(exc, "listing the bucket") from None
        except Exception as exc:  # botocore and s3fs raise many unrelated types
            raise self.fail(exc, "listing the bucket") from None

    def odb(self, hash_name: str):
        return self.repo.cloud.get_remote_odb(self.name, "moola pod", hash_name=hash_name or "md5")

    def missing(self, hash_info: Any) -> bool:
        """True when an output's object (a folder: its manifest and every file in it) is not on the remote."""
        try:
            odb = self.odb(hash_info.name)
            oid = hash_info.value
            if not hash_info.isdir:
                return not odb.exists(oid)
            manifest = odb.oid_to_path(oid)
            if not self.fs.exists(manifest):
                return True
            entries = json.loads(self.fs.cat_file(manifest))
            wanted = {entry["md5"] for entry in entries}
            present = set(odb.oids_exist(sorted(wanted)))
            return bool(wanted - present)
        except MoolaError:
            raise
        except Exception as exc:
            raise self.fail(exc, "checking objects") from None

    def push_uncached_outputs(self, stage: Any) -> int:
        """Upload the objects of a stage's `cache: false` outputs (metrics, plots) that DVC's
        run-cache entry names, which `dvc push --run-cache` leaves behind; files before folders.

        Returns:
            The number of objects transferred.
        """
        from dvc_data.hashfile.tree import Tree

        files, folders = [], []
        for out in stage.outs:
            if out.use_cache or not out.hash_info:
                continue
            if out.hash_info.isdir:
                folders.append(out.hash_info)
                files.extend(entry for _, _, entry in Tree.load(self.repo.cache.local, out.hash_info))
            else:
                files.append(out.hash_info)
        transferred = 0
        try:
            for batch in (files, folders):
                if batch:
                    result = self.repo.cloud.push(batch, remote=self.name)
                    if result.failed:
                        raise MoolaError(
                            f"{len(result.failed)} object(s) of {stage.addressing}'s metrics "
                            f"and plots failed to upload to DVC remote {self.name!r}: rerun"
                        )
                    transferred += len(result.transferred)
        except MoolaError:
            raise
        except Exception as exc:
            raise self.fail(exc, "uploading metrics and plots") from None
        return transferred

    # ----- small files under <remote>/moola-resume/ (resumable training states) -----

    def resume_path(self, key: str, name: str) -> str:
        return self.fs.join(self.path, RESUME_FOLDER, key, name)

    def upload(self, local: Path, key: str) -> int:
        """Copy a local file to the remote's resume folder under `key`; returns its size."""
        try:
            self.fs.put_file(os.fspath(local), self.resume_path(key, local.name))
        except Exception as exc:
            raise self.fail(exc, f"uploading {local.name}") from None
        return local.stat().st_size

    def download(self, key: str, local: Path) -> int:
        """Fetch the remote copy of `local` saved under `key`, atomically; 0 when there is none."""
        remote = self.resume_path(key, local.name)
        try:
            if not self.fs.exists(remote):
                return 0
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(local.name + ".download")
            self.fs.get_file(remote, os.fspath(partial))
            os.replace(partial, local)
        except Exception as exc:
            raise self.fail(exc, f"downloading {local.name}") from None
        return local.stat().st_size

    def discard(self, key: str, names: Iterable[str]) -> None:
        """Delete finished states from the remote; a store that refuses deletes keeps them (harmless)."""
        for name in names:
            try:
                remote = self.resume_path(key, name)
                if self.fs.exists(remote):
                    self.fs.rm_file(remote)
            except Exception as exc:  # a refused delete only leaves a stale state behind
                log.debug("kept %s on the remote: deleting it failed (%s)", name, exc)
