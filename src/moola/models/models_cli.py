"""`moola models`: the active models with role, inputs, measured size and use of pretraining."""

from __future__ import annotations

import argparse
import json
from typing import Any

from moola.models.registry import LEGACY_README, ModelRegistry

# MiniRocket's size is that of its fitted state, so it is fitted on this many random series.
_PROBE_SERIES = 12
_PROBE_LENGTH = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=None, help="params file with the model sections (default: params.yaml)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON instead of text")


def measure_sizes(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Build every active model from `params` and count its parameters.

    Args:
        params: the whole params mapping (model sections and `encoder:`).

    Returns:
        One row per active model: name, role, inputs, params (int), params_note, pretrain_use.
    """
    rows = []
    for name in ModelRegistry.names():
        spec = ModelRegistry.spec(name)
        model = ModelRegistry.create(name, params.get(name), encoder=params.get("encoder"), n_classes=3, seed=0)
        if spec.kind == "minirocket":
            count, note = _fitted_minirocket_size(model)
        else:
            count = model.parameter_count()
            note = f"encoder {sum(p.numel() for p in model.encoder.parameters()):,}" if model.has_encoder else ""
        rows.append(
            {
                "name": name,
                "role": spec.role,
                "inputs": spec.inputs,
                "params": count,
                "params_note": note,
                "pretrain_use": spec.pretrain_use,
            }
        )
    return rows


def _fitted_minirocket_size(model: Any) -> tuple[int, str]:
    """Fit on a few random series and count the float numbers of the fitted state."""
    import numpy as np

    rng = np.random.default_rng(0)
    series = rng.normal(size=(_PROBE_SERIES, _PROBE_LENGTH, 4)).astype(np.float32)
    labels = np.arange(_PROBE_SERIES) % 3
    state = model.fit(series, labels).state_dict()
    learned = ("biases", "feature_mean", "feature_scale", "coef", "intercept", "temperature")
    count = sum(state[key].numel() for key in learned)
    return count, f"{model.num_output_features:,} features; fitted biases + scaler + classifier"


def run(args: argparse.Namespace) -> int:
    from moola.device import set_threads
    from moola.params import load_params

    params = load_params(args.params)
    set_threads(int((params.get("base") or {}).get("threads", 0) or 0))
    rows = measure_sizes(params)
    legacy = ModelRegistry.legacy_names()
    if args.json:
        print(json.dumps({"active": rows, "legacy": legacy, "legacy_readme": LEGACY_README}, indent=2))
        return 0
    headers = ("name", "role", "inputs", "params", "pretrain")
    table = [(r["name"], r["role"], r["inputs"], f"{r['params']:,}", r["pretrain_use"]) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in table:
        cells = [
            cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join(cells).rstrip())
    notes = [f"{r['name']}: {r['params_note']}" for r in rows if r["params_note"]]
    if notes:
        print("params measured from the built models (3 classes); " + "; ".join(notes))
    print(f"legacy (not trained by the pipeline): {', '.join(legacy)} - see {LEGACY_README}")
    return 0
