"""Create a RunPod pod that runs the bootstrap for one stage, follow it, and always terminate it.

Releases of the `runpod` SDK (optional extra `moola[runpod]`) up to its GraphQL era paste every
string into the mutation with plain string formatting (`name: "{name}"`); later ones send JSON to
a REST API. Escaping would be right for one and corrupt values for the other, so nothing is
escaped: every value is checked here before it gets near the SDK, and refused if it holds a
double quote, a backslash or a control character (newlines included). Identifiers (image, GPU
type, volume, data center, names, environment keys) must also match a strict pattern. What
passes reads the same under both SDKs. The request builder needs no SDK, so it is tested
everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import time
from typing import Any, Callable

from moola.errors import MoolaError

# RunPod resolves "{{ RUNPOD_SECRET_name }}" inside env values on the pod: secrets never leave RunPod.
SECRET_REFERENCE = "{{{{ RUNPOD_SECRET_{name} }}}}"  # noqa: S105 (a template naming a RunPod secret, not one)
_SECRET_REFERENCE_RE = re.compile(r"^\{\{ RUNPOD_SECRET_[A-Za-z0-9_.-]+ \}\}$")
_IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/@+-]*$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_SENSITIVE_KEY_RE = re.compile(r"(SECRET|TOKEN|PASSWORD|CREDENTIAL|ACCESS_KEY|API_KEY|_KEY$)", re.IGNORECASE)
BOOTSTRAP_PATH = "scripts/pod/bootstrap.sh"
WORKDIR = "/workspace/moola"


def check_identifier(value: str, what: str) -> str:
    """Return `value` if it is a plain identifier (letters, digits, space and ._:/@+-), else raise."""
    if not isinstance(value, str) or not _IDENTIFIER_RE.fullmatch(value) or len(value) > 200:
        raise MoolaError(
            f"{what} {value!r} has characters a RunPod request cannot carry safely "
            "(quotes, backslashes, newlines, control characters or a leading symbol): pass a plain name"
        )
    return value


def check_text(value: str, what: str) -> str:
    """Return free text (an env value, the container command) if it is safe between double quotes.

    Raises:
        MoolaError: the text holds a double quote, a backslash or a control character.
    """
    if not isinstance(value, str):
        raise MoolaError(f"{what} {value!r} must be text")
    unsafe = sorted({char for char in value if char in '"\\' or ord(char) < 32 or ord(char) == 127})
    if unsafe:
        raise MoolaError(
            f"{what} holds {', '.join(repr(char) for char in unsafe)}, which a RunPod request cannot "
            "carry safely: remove them (keep secrets in RunPod secrets, see --secret)"
        )
    return value


def secret_reference(secret_name: str) -> str:
    """Return the env value that RunPod replaces with the secret `secret_name` on the pod."""
    if not _SECRET_NAME_RE.fullmatch(secret_name or ""):
        raise MoolaError(f"RunPod secret name {secret_name!r} must be letters, digits, '_', '.' or '-'")
    return SECRET_REFERENCE.format(name=secret_name)


@dataclasses.dataclass
class PodRequest:
    """Everything the pod is created with; `sdk_arguments()` is exactly what `runpod.create_pod` gets."""

    name: str
    image_name: str
    gpu_type_id: str
    gpu_count: int = 1
    cloud_type: str = "SECURE"
    container_disk_in_gb: int = 30
    network_volume_id: str | None = None
    data_center_id: str | None = None
    volume_mount_path: str = "/workspace"
    docker_args: str = ""
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    def sdk_arguments(self) -> dict[str, Any]:
        """Validate every field and return the keyword arguments for `runpod.create_pod`.

        Returns:
            A dict whose strings hold no quote, backslash or control character: safe between
            GraphQL double quotes and unchanged in JSON.

        Raises:
            MoolaError: an unsafe value, or a count out of range.
        """
        if not 1 <= self.gpu_count <= 8:
            raise MoolaError(f"--gpu-count must be 1..8, got {self.gpu_count}")
        if not 5 <= self.container_disk_in_gb <= 2000:
            raise MoolaError(f"--container-disk-gb must be 5..2000, got {self.container_disk_in_gb}")
        if self.cloud_type not in ("SECURE", "COMMUNITY", "ALL"):
            raise MoolaError(f"cloud type {self.cloud_type!r}: choose SECURE, COMMUNITY or ALL")
        arguments: dict[str, Any] = {
            "name": check_identifier(self.name, "pod name"),
            "image_name": check_identifier(self.image_name, "image"),
            "gpu_type_id": check_identifier(self.gpu_type_id, "GPU type"),
            "cloud_type": self.cloud_type,
            "gpu_count": self.gpu_count,
            "container_disk_in_gb": self.container_disk_in_gb,
            "volume_mount_path": self.volume_mount_path,
            "docker_args": check_text(self.docker_args, "container command"),
            "env": {},
        }
        if not self.volume_mount_path.startswith("/") or not _IDENTIFIER_RE.fullmatch(self.volume_mount_path[1:]):
            raise MoolaError(f"mount path {self.volume_mount_path!r} must be a plain absolute path (/workspace)")
        if self.network_volume_id is not None:
            arguments["network_volume_id"] = check_identifier(self.network_volume_id, "network volume id")
        if self.data_center_id is not None:
            arguments["data_center_id"] = check_identifier(self.data_center_id, "data center id")
        for key, value in sorted(self.env.items()):
            if not _ENV_KEY_RE.fullmatch(key):
                raise MoolaError(f"pod environment name {key!r} must be letters, digits and '_' (not first digit)")
            arguments["env"][key] = check_text(value, f"pod environment value of {key}")
        return arguments

    def printable(self) -> dict[str, Any]:
        """The SDK arguments with credential-looking values masked (for --dry-run and logs)."""
        arguments = self.sdk_arguments()
        arguments["env"] = {key: mask_value(key, value) for key, value in arguments["env"].items()}
        return arguments


def mask_value(key: str, value: str) -> str:
    """Hide a credential-looking env value unless it is only a RunPod secret reference."""
    if _SENSITIVE_KEY_RE.search(key) and not _SECRET_REFERENCE_RE.fullmatch(value):
        return "***"
    if "@" in value and "://" in value:
        # A URL with credentials in it (https://user:token@host/...): keep the host, hide the rest.
        scheme, rest = value.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return value


# Git reads this from the pod's environment (GIT_CONFIG_COUNT/KEY/VALUE), so the clone and every
# later fetch or push authenticate with MOOLA_GIT_TOKEN without the token ever being written down.
# `$MOOLA_GIT_TOKEN` stays literal here; the helper's shell expands it when git calls it.
GIT_TOKEN_HELPER_ENV = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "credential.helper",
    "GIT_CONFIG_VALUE_0": "!f() { echo username=x-access-token; echo password=$MOOLA_GIT_TOKEN; }; f",
}


def pod_command(stage: str) -> str:
    """The container command: clone, run the bootstrap, keep a log on the volume, end the pod.

    `$VARS` are left for the pod's shell to expand: the request carries names, not secrets. It
    holds no double quote or backslash (see the module docstring); the variables it expands
    hold a URL and an id, which need no quoting.
    """
    check_identifier(stage, "stage")
    return (
        "bash -c '"
        "mkdir -p /workspace/logs; "
        f"test -d {WORKDIR}/.git || git clone --quiet $MOOLA_REPO_URL {WORKDIR}; "
        f"bash {WORKDIR}/{BOOTSTRAP_PATH} {stage} 2>&1 | tee -a /workspace/logs/moola-{stage}.log; "
        "runpodctl remove pod $RUNPOD_POD_ID"
        "'"
    )


def parse_assignments(items: list[str], what: str) -> dict[str, str]:
    """Turn ["KEY=value", ...] into a dict; an item without '=' is an error."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MoolaError(f"{what} {item!r} must look like KEY=VALUE")
        result[key] = value
    return result


def build_request(args: argparse.Namespace) -> PodRequest:
    """Build the pod request for `moola pod launch` (validated, SDK not needed).

    Args:
        args: parsed `moola pod launch` arguments.

    Returns:
        A `PodRequest`; call `sdk_arguments()` for the exact SDK call.
    """
    scheme, separator, rest = args.repo_url.partition("://")
    if separator and ":" in rest.split("/", 1)[0].rpartition("@")[0]:
        raise MoolaError(
            "--repo-url carries a password or token: give the plain URL and the token as a RunPod "
            "secret with --secret MOOLA_GIT_TOKEN=SECRET_NAME"
        )
    env = {
        "MOOLA_REPO_URL": args.repo_url,
        "MOOLA_GIT_REF": args.ref,
        "MOOLA_WORKDIR": WORKDIR,
    }
    env.update(parse_assignments(args.env, "--env"))
    for key, secret_name in parse_assignments(args.secret, "--secret").items():
        env[key] = secret_reference(secret_name)
    if "MOOLA_GIT_TOKEN" in env:
        env.update(GIT_TOKEN_HELPER_ENV)
    request = PodRequest(
        name=args.name or f"moola-{args.stage}",
        image_name=args.image,
        gpu_type_id=args.gpu,
        gpu_count=args.gpu_count,
        cloud_type=args.cloud,
        container_disk_in_gb=args.container_disk_gb,
        network_volume_id=args.network_volume,
        data_center_id=args.data_center,
        docker_args=pod_command(args.stage),
        env=env,
    )
    request.sdk_arguments()  # fail now, before anything is printed as if valid
    return request


def follow_pod(
    sdk: Any,
    pod_id: str,
    timeout_s: float,
    poll_s: float = 15.0,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Print the pod's status whenever it changes until the job is over; False on timeout.

    The job is over when the pod is gone (the command removes its own pod), has exited, or its
    container restarted (uptime went down: RunPod restarts a finished command).
    """
    deadline = clock() + timeout_s
    last_state = None
    last_uptime = -1
    while clock() < deadline:
        pod = sdk.get_pod(pod_id)
        if not pod:
            log(f"pod {pod_id}: gone (finished)")
            return True
        status = pod.get("desiredStatus")
        uptime = (pod.get("runtime") or {}).get("uptimeInSeconds")
        if status in ("EXITED", "TERMINATED"):
            log(f"pod {pod_id}: {status} (finished)")
            return True
        if uptime is not None and uptime < last_uptime:
            log(f"pod {pod_id}: container restarted after {last_uptime} s (the job ended)")
            return True
        state = (status, uptime is not None, (uptime or 0) // 300)
        if state != last_state:
            log(f"pod {pod_id}: {status}" + (f", up {uptime} s" if uptime is not None else ", starting"))
            last_state = state
        last_uptime = uptime if uptime is not None else last_uptime
        sleep(poll_s)
    log(f"pod {pod_id}: still running after {timeout_s / 60:.0f} min")
    return False


def launch_from_args(args: argparse.Namespace) -> int:
    """`moola pod launch`: dry-run prints the request; otherwise create, follow, always terminate."""
    request = build_request(args)
    print(json.dumps({"runpod.create_pod": request.printable()}, indent=2, sort_keys=True))
    if args.dry_run:
        return 0
    try:
        import runpod
    except ImportError:
        raise MoolaError("the runpod SDK is not installed: pip install -e '.[runpod]' (or use --dry-run)") from None
    api_key = os.environ.get("RUNPOD_API_KEY")
    if not api_key:
        raise MoolaError("RUNPOD_API_KEY is not set: export it (RunPod console > Settings > API keys)")
    runpod.api_key = api_key
    try:
        pod = runpod.create_pod(**request.sdk_arguments())
    except Exception as exc:  # the SDK raises bare errors for refused requests
        raise MoolaError(f"RunPod refused to create the pod: {exc}") from None
    pod_id = pod["id"]
    print(f"pod {pod_id}: created ({request.gpu_type_id}, {request.image_name})", flush=True)
    finished = False
    try:
        finished = follow_pod(
            runpod,
            pod_id,
            timeout_s=args.timeout_min * 60,
            poll_s=args.poll_seconds,
            log=lambda line: print(line, flush=True),
        )
    finally:
        # Always: a pod left running bills by the hour, whatever went wrong here.
        try:
            runpod.terminate_pod(pod_id)
            print(f"pod {pod_id}: terminated", flush=True)
        except Exception:
            print(f"pod {pod_id}: already gone", flush=True)
    if not finished:
        raise MoolaError(
            f"pod {pod_id} did not finish within --timeout-min {args.timeout_min}: "
            f"it was terminated; see /workspace/logs/moola-{args.stage}.log on the volume"
        )
    return 0
