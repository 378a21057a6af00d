"""The status report printed at the start of every run, and the results block at its end.

Everything printed comes from the run's own records (params, data audit, load report, device
facts); nothing is read from the environment, so no credential can reach a log line.
"""

from __future__ import annotations

from typing import Any, Mapping

TICK, CROSS = "✓", "✗"
_RULE = "=" * 72


def _mark(flag: Any) -> str:
    return TICK if flag else CROSS


def describe_model(model: Any, name: str, spec: Any = None) -> dict:
    """Model facts for the report and the manifest: parameters, bidirectional, fusion, kind.

    Args:
        model: a torch module or an estimator.
        name: the registry name.
        spec: the ModelRegistry spec (for `inputs`, `kind`, `pretrain_use`), or None.
    """
    facts: dict[str, Any] = {"name": name, "kind": getattr(spec, "kind", None)}
    inputs = getattr(spec, "inputs", "") or ""
    facts["inputs"] = inputs
    facts["pretrain_use"] = getattr(spec, "pretrain_use", None)
    try:
        import torch

        is_module = isinstance(model, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_module = False
    if is_module:
        parameters = list(model.parameters())
        facts["parameters"] = int(sum(p.numel() for p in parameters))
        facts["trainable_parameters"] = int(sum(p.numel() for p in parameters if p.requires_grad))
        facts["bidirectional"] = any(
            getattr(module, "bidirectional", False)
            for module in model.modules()
            if isinstance(module, torch.nn.RNNBase)
        )
    else:
        from moola.errors import MoolaError

        try:
            state = model.state_dict() if hasattr(model, "state_dict") else {}
        except MoolaError:  # an estimator has no parameters before it is fitted
            state = {}
        facts["parameters"] = int(sum(int(getattr(t, "numel", lambda: 0)()) for t in state.values()))
        facts["trainable_parameters"] = facts["parameters"]
        facts["bidirectional"] = False
    uses_features = "feature" in str(inputs).lower()
    facts["fusion"] = "OHLC encoder + 20 features -> fusion head" if uses_features else "OHLC only"
    return facts


def format_status_report(
    *,
    run_id: str,
    git: Mapping[str, Any],
    seed: int,
    model: Mapping[str, Any],
    data_audit: Mapping[str, Any],
    split: Mapping[str, Any],
    load_report: Any,
    augment: bool,
    hyperparameters: Mapping[str, Any],
    device: Mapping[str, Any],
    guard_claims: list[str],
) -> str:
    """The start-of-run block (see CONTRIBUTING.md for an example).

    Args:
        run_id: the deterministic run id.
        git: {"sha", "dirty"}.
        seed: base.seed.
        model: `describe_model(...)`.
        data_audit: the DataRegistry audit trail.
        split: the split document.
        load_report: the LoadReport of the pretrained load, or None.
        augment: whether synthetic rows are in train.
        hyperparameters: epochs, batch size, lr, ...
        device: `moola.device.describe_device(...)`.
        guard_claims: the guards that held.

    Returns:
        Multi-line text.
    """
    sha = git.get("sha")
    git_text = f"{sha[:12]}{' (dirty tree)' if git.get('dirty') else ' (clean)'}" if sha else "not a git checkout"
    pretrained = load_report is not None and len(load_report.matched) > 0
    lines = [
        _RULE,
        f"moola run {run_id}",
        f"  git        {git_text}",
        f"  seed       {seed}",
        f"  model      {model['name']} | {_parameter_text(model)} | bidirectional "
        f"{_mark(model.get('bidirectional'))} | "
        f"fusion: {model.get('fusion')} | pretrained {_mark(pretrained)}",
        f"  data       labeled {data_audit.get('labeled_version')} "
        f"({str(data_audit.get('labeled_fingerprint'))[:12]}) | "
        f"split {data_audit.get('split_name')}: {split.get('strategy')}, purge {_mark(split.get('purge'))}, "
        f"embargo {split.get('embargo')}",
        f"  rows       train {data_audit.get('n_real_train')} real + {data_audit.get('n_synthetic_train')} synthetic | "
        f"val {data_audit.get('n_val')} (synthetic {data_audit.get('val_synthetic')} "
        f"{_mark(data_audit.get('val_synthetic') == 0)}) | test {data_audit.get('n_test')} "
        f"(synthetic {data_audit.get('test_synthetic')} {_mark(data_audit.get('test_synthetic') == 0)}) | "
        f"purged {data_audit.get('n_purged')}",
    ]
    classes = _class_line(split, data_audit.get("fold"))
    if classes:
        lines.append(f"  classes    {classes}")
    if load_report is not None:
        lines.append(f"  pretrained {load_report.source}: {load_report.summary_line()}")
    elif model.get("pretrain_use") == "none":
        lines.append(f"  pretrained {CROSS} not used ({model['name']} takes no pretrained encoder)")
    else:
        lines.append(f"  pretrained {CROSS} none loaded (random encoder init)")
    if augment and data_audit.get("synthetic_version"):
        lines.append(
            f"  augment    {TICK} {data_audit.get('synthetic_version')} (ratio {data_audit.get('synthetic_ratio')}, "
            f"ks_pval {data_audit.get('ks_pval')})"
        )
    else:
        lines.append(f"  augment    {CROSS} real rows only")
    hyper = ", ".join(f"{key} {value}" for key, value in hyperparameters.items())
    lines.append(f"  hyper      {hyper}")
    gpu = f" | GPU {device.get('gpu_name')}" if device.get("gpu_name") else ""
    lines.append(
        f"  device     {device.get('type')}{gpu} | CUDA {device.get('cuda_version') or '-'} | torch "
        f"{device.get('torch')}"
    )
    for claim in guard_claims:
        lines.append(f"  guard      {TICK} {claim}")
    lines.append(_RULE)
    return "\n".join(lines)


def _class_line(split: Mapping[str, Any], fold: Any) -> str:
    """'name, name | train a, b | val c, d | test e, f': the class names and real rows per part of the fold."""
    folds = split.get("folds") or []
    doc = folds[fold] if isinstance(fold, int) and 0 <= fold < len(folds) else split
    counts = doc.get("class_counts") or {}
    names = list(counts.get("train") or {})
    if not names:
        return ""
    parts = " | ".join(
        f"{part} {', '.join(str(counts[part].get(name, 0)) for name in names)}"
        for part in ("train", "val", "test")
        if part in counts
    )
    return f"{', '.join(names)} | {parts}"


def _parameter_text(model: Mapping[str, Any]) -> str:
    if model.get("kind") == "minirocket" and not model.get("parameters"):
        return "parameters fitted by MiniRocket.fit"
    return f"{model.get('parameters', 0):,} params ({model.get('trainable_parameters', 0):,} trainable)"


def format_results(title: str, rows: Mapping[str, Any]) -> str:
    """The end-of-run block: one `name  value` line per entry (floats to 4 decimals)."""
    lines = [_RULE, title]
    for key, value in rows.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"  {key:<28} {text}")
    lines.append(_RULE)
    return "\n".join(lines)
