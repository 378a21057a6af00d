"""Structural checks of the plain dicts moola stores with torch (checkpoints, encoders, states).

`weights_only=True` already refuses pickled objects; these checks refuse the rest of what a
damaged or crafted file can hold (a string where a mapping goes, a list as a state dict), so a
reader fails with one line instead of a traceback deep inside a model.
"""

from __future__ import annotations

from typing import Any


def is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def state_dict_problem(value: Any, what: str) -> str | None:
    """None when `value` is a mapping of names to tensors, else what is wrong."""
    if not isinstance(value, dict):
        return f"{what} is a {type(value).__name__}, not a mapping of tensor names to tensors"
    for name, tensor in value.items():
        if not isinstance(name, str) or not is_tensor(tensor):
            return f"{what} entry {str(name)[:40]!r} is a {type(tensor).__name__}, not a tensor"
    return None


def plain_problem(value: Any, what: str, depth: int = 0) -> str | None:
    """None when `value` holds only JSON-like values (nested at most 32 deep), else what is wrong."""
    if depth > 32:
        return f"{what} is nested more than 32 levels deep"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{what} has a key of type {type(key).__name__}"
            problem = plain_problem(item, f"{what}.{key}", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        return next((p for p in (plain_problem(v, f"{what}[]", depth + 1) for v in value) if p), None)
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    return f"{what} holds a {type(value).__name__}"


def typed_fields_problem(doc: dict[str, Any], fields: dict[str, type | tuple], what: str) -> str | None:
    """None when every field of `fields` is present in `doc` with the given type."""
    for name, kind in fields.items():
        if name not in doc:
            return f"{what} lacks {name!r}"
        if (
            not isinstance(doc[name], kind)
            or isinstance(doc[name], bool)
            and bool not in (kind if isinstance(kind, tuple) else (kind,))
        ):
            return f"{what} field {name!r} is a {type(doc[name]).__name__}"
    return None


def document_problem(
    doc: Any, file_format: str, fields: dict[str, type | tuple], plain: tuple[str, ...], what: str = "it"
) -> str | None:
    """None when `doc` is a dict of `file_format` (None: format not checked) with `fields` typed, a
    state dict of tensors when `fields` names `state_dict`, and the `plain` entries JSON-like; else
    the first fault found (the shared frame of every torch file, and of an encoder file's folds)."""
    if file_format is not None and (not isinstance(doc, dict) or doc.get("format") != file_format):
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        return f"{what} has format {str(found)[:40]!r}, expected {file_format!r}"
    if not isinstance(doc, dict):
        return f"{what} is a {type(doc).__name__}, not a mapping"
    problem = typed_fields_problem(doc, fields, what)
    if problem is None and "state_dict" in fields:
        problem = state_dict_problem(doc["state_dict"], f"{'its' if what == 'it' else what} state_dict")
    return problem or plain_problem({key: doc[key] for key in plain}, what)
