#!/usr/bin/env bash
# Fresh-pod bootstrap: GPU check, clone, `make setup`, then `moola pod run STAGE` (decide, pull, run, push).
#
#   MOOLA_REPO_URL=https://github.com/you/moola.git  AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=... \
#     bash bootstrap.sh pretrain_ts2vec
#
# Environment (only MOOLA_REPO_URL and the remote's credentials are required; see docs/RUNPOD.md):
#   MOOLA_REPO_URL      git URL to clone (and push the result branch to)
#   MOOLA_GIT_TOKEN     optional token for an https URL; read by a credential helper, never stored
#   MOOLA_GIT_REF       branch, tag or commit to start from (default: main)
#   MOOLA_WORKDIR       where the clone lives (default: /workspace/moola, i.e. the network volume)
#   MOOLA_DVC_REMOTE    DVC remote name (default: s3); MOOLA_DVC_URL overrides its url for this job only
#   MOOLA_RESULT_BRANCH branch for the results (default: pod/<stage>-<first 10 hex of the start commit>)
#   MOOLA_POD_REPORT    optional path of a JSON report (seconds per phase, bytes pulled)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION  the S3 remote
#
# Safe to rerun after an interruption: an existing clone is reused (its DVC cache too), a result
# branch that exists locally or on the remote is resumed, and every later step skips finished work.
# Exit code: 0 done, 2 usage, 3 no GPU on a pod, anything else the failing step's code.

set -Eeuo pipefail

say() { printf 'bootstrap: %s\n' "$1"; }
# fail MESSAGE [CODE]: the message alone on one line, then exit with CODE (default 1).
fail() { printf 'bootstrap: error: %s\n' "$1" >&2; exit "${2:-1}"; }
trap 'printf "bootstrap: error: step \"%s\" failed; fix the cause named above and rerun the same command: it resumes\n" "${STEP:-start}" >&2' ERR

STAGE="${1:-${MOOLA_STAGE:-}}"
[ -n "$STAGE" ] || fail "no stage given: bash bootstrap.sh STAGE (e.g. pretrain_ts2vec)" 2
[ -n "${MOOLA_REPO_URL:-}" ] || fail "MOOLA_REPO_URL is not set: export the git URL of the repository" 2
REF="${MOOLA_GIT_REF:-main}"
WORKDIR="${MOOLA_WORKDIR:-/workspace/moola}"
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found: use an image with Python >= 3.11" 2
command -v git >/dev/null || fail "git not found: install it in the image (apt-get install -y git)" 2

# 1. GPU first: on a pod, a missing GPU must cost seconds, not an install and a download.
#    (base.require_gpu from params.yaml is checked again by `moola pod run`, still before any pull.)
STEP="gpu check"
if [ -n "${RUNPOD_POD_ID:-}" ]; then
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    fail "RUNPOD_POD_ID is set (this is a pod) but nvidia-smi lists no GPU: terminate this pod and rent one with a GPU" 3
  fi
  # moola installs no CUDA torch itself (requirements/cpu.txt is the CPU build): the image brings it.
  if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    fail "this pod has a GPU but $PYTHON has no CUDA torch (import torch; torch.cuda.is_available()): use an image with CUDA torch, e.g. runpod/pytorch" 3
  fi
  say "GPU: $(nvidia-smi -L | head -n 1)"
fi

# 2. Clone, or reuse the clone an interrupted run left behind.
STEP="clone"
git_auth=()
if [ -n "${MOOLA_GIT_TOKEN:-}" ]; then
  # The helper reads the token from the environment each time: it is never written to disk.
  git_auth=(-c 'credential.helper=!f() { echo username=x-access-token; echo "password=$MOOLA_GIT_TOKEN"; }; f')
fi
if [ -d "$WORKDIR/.git" ]; then
  say "reusing the clone in $WORKDIR"
  git "${git_auth[@]}" -C "$WORKDIR" fetch --quiet origin
else
  say "cloning into $WORKDIR"
  git "${git_auth[@]}" clone --quiet --no-checkout "$MOOLA_REPO_URL" "$WORKDIR"
fi
cd "$WORKDIR"
if [ -n "${MOOLA_GIT_TOKEN:-}" ]; then
  git config credential.helper '!f() { echo username=x-access-token; echo "password=$MOOLA_GIT_TOKEN"; }; f'
fi

STEP="checkout"
start_commit="$(git rev-parse --verify --quiet "origin/$REF^{commit}" || git rev-parse --verify --quiet "$REF^{commit}")" \
  || fail "git ref $REF not found in $MOOLA_REPO_URL: set MOOLA_GIT_REF to a branch, tag or commit" 2
BRANCH="${MOOLA_RESULT_BRANCH:-pod/$STAGE-${start_commit:0:10}}"
if git rev-parse --verify --quiet "refs/heads/$BRANCH" >/dev/null; then
  say "resuming local branch $BRANCH"
  git checkout --quiet "$BRANCH"
elif git rev-parse --verify --quiet "refs/remotes/origin/$BRANCH" >/dev/null; then
  say "resuming branch $BRANCH from the remote"
  git checkout --quiet -b "$BRANCH" "origin/$BRANCH"
else
  say "starting branch $BRANCH at $REF (${start_commit:0:10})"
  git checkout --quiet -b "$BRANCH" "$start_commit"
fi

# 3. Install through the project's own `make setup` (it keeps an image's CUDA torch).
STEP="install"
command -v make >/dev/null || fail "make not found: install it in the image (apt-get install -y make)" 2
install_started=$(date +%s.%N)
make --no-print-directory setup PYTHON="$PYTHON"
install_seconds=$("$PYTHON" -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 3))" "$install_started")
VENV_PYTHON="$WORKDIR/.venv/bin/python"
[ -x "$VENV_PYTHON" ] || fail "make setup left no $VENV_PYTHON: read its output above" 1
# DVC stages call `moola ...`: the venv's scripts come first.
PATH="$WORKDIR/.venv/bin:$PATH"
export PATH
say "installed with make setup in ${install_seconds} s"

# 4. Decide, pull the stage's inputs only, dvc repro, dvc push, verify, result branch push.
STEP="moola pod run"
report_args=()
if [ -n "${MOOLA_POD_REPORT:-}" ]; then report_args=(--report "$MOOLA_POD_REPORT"); fi
"$VENV_PYTHON" -m moola.cli pod run "$STAGE" --branch "$BRANCH" --install-seconds "$install_seconds" \
  "${report_args[@]}"

# 5. The exact command that brings the results home (through the same DVC remote, not the default one).
STEP="done"
REMOTE="${MOOLA_DVC_REMOTE:-s3}"
url_step=""
if [ -n "${MOOLA_DVC_URL:-}" ]; then url_step="dvc remote modify --local $REMOTE url $MOOLA_DVC_URL && "; fi
if git ls-remote --exit-code --heads origin "$BRANCH" >/dev/null 2>&1; then
  say "done; on your machine: git fetch origin $BRANCH && git merge FETCH_HEAD && ${url_step}dvc pull -r $REMOTE $STAGE"
else
  say "done (nothing new for git); on your machine, at $REF: ${url_step}dvc pull -r $REMOTE $STAGE"
fi
