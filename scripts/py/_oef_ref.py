"""Shared helpers for the scripts in scripts/py/ (not a command-line tool itself).

They wrap the reference implementation of the legacy Open Experiment Format
(format v0), the Python package ``deepomatic-oef==0.23.1``, installed in the
project venv by ``scripts/python-env.sh`` (prints the venv's python path).

Exit codes shared by all scripts:
  0  success
  1  the check/benchmark ran but found a failure (script specific)
  2  bad usage or bad input (missing directory, unreadable/invalid JSON, ...)
  3  environment problem (reference package or protobuf not importable)
"""

from __future__ import annotations

import sys
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ENV = 3

# The only keyword argument used to build the reference "default" experiments.
DEFAULT_CONFIG_PATH = "gs://bucket/dataset/config.prototxt"
DEFAULT_KWARGS = {"config_path": DEFAULT_CONFIG_PATH}


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` to stderr, prefixed with the program name, and exit."""
    prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "oef"
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def load_reference():
    """Import the reference package; exit with EXIT_ENV and a hint if it is missing.

    Returns a namespace-like dict with the objects the scripts need.
    """
    try:
        from google.protobuf import json_format
        from google.protobuf.internal import api_implementation
        from deepomatic.oef.protos.experiment_pb2 import Experiment
        from deepomatic.oef.protos.hyperparameter_pb2 import HyperParameter
        from deepomatic.oef.utils.experiment_builder import ExperimentBuilder
        from deepomatic.oef.configs.model_list import model_list
    except ImportError as exc:  # pragma: no cover - depends on the interpreter used
        die(
            f"cannot import the reference package ({exc}). Run this script with the "
            "project venv: \"$(scripts/python-env.sh)\" scripts/py/<script>.py ...",
            EXIT_ENV,
        )
    return {
        "json_format": json_format,
        "api_implementation": api_implementation,
        "Experiment": Experiment,
        "HyperParameter": HyperParameter,
        "ExperimentBuilder": ExperimentBuilder,
        "model_keys": list(model_list.keys()),
    }


def format_error(exc: BaseException) -> dict:
    """``{"error_type": <class name>, "error": <str(exc)>}`` for a builder exception.

    ``f"{error_type}: {error}"`` is the form used by ``reference_error`` in
    tests/fixtures/legacy-oef/overrides/*.case.json.
    """
    return {"error_type": type(exc).__name__, "error": str(exc)}


def message_diff(a, b, limit: int = 5) -> list[str]:
    """Up to ``limit`` human-readable differences between two messages (field paths)."""
    from google.protobuf import json_format

    def to_dict(m):
        return json_format.MessageToDict(m, preserving_proto_field_name=True)

    out: list[str] = []

    def walk(x, y, path):
        if len(out) >= limit:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                p = f"{path}.{k}" if path else k
                if k not in x:
                    out.append(f"{p}: missing in left, right={y[k]!r}")
                elif k not in y:
                    out.append(f"{p}: left={x[k]!r}, missing in right")
                else:
                    walk(x[k], y[k], p)
                if len(out) >= limit:
                    return
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (xi, yi) in enumerate(zip(x, y)):
                walk(xi, yi, f"{path}[{i}]")
        elif x != y:
            out.append(f"{path}: left={x!r}, right={y!r}")

    walk(to_dict(a), to_dict(b), "")
    if not out:
        out.append("messages differ but their JSON forms are equal (unknown fields or float precision?)")
    return out
