"""Build one experiment with the Python reference builder, for differential tests.

Reads a builder case as JSON on stdin (or from CASE_FILE):

  {"model": "<architecture key>",
   "kwargs": {...},                                   # optional, default {}
   "hyperparameters": [{"path": "trainer.batch_size",  # optional, default []
                        "distribution": {<HyperParameter proto JSON>} | null}]}

(``expect`` and ``reference_error``, present in
tests/fixtures/legacy-oef/overrides/*.case.json, are accepted and ignored.)

Runs ``b = ExperimentBuilder(model)``, ``b.add_hyperparameter(path, distribution)``
for each hyperparameter in order, ``xp = b.build(**kwargs)``, then
``xp.SerializeToString(deterministic=True)`` (which rejects unset required
fields), and prints one JSON line on stdout:

  {"ok": true, "json": <json_format.MessageToJson(xp) as an object>, "pb_hex": "<hex>"}
  {"ok": false, "error_type": "<exception class>", "error": "<str(exception)>"}

``f"{error_type}: {error}"`` is the format of ``reference_error`` in the case files.

Exit codes: 0 a result line was printed (ok true or false: a rejected case is a
result, not a failure); 2 the input is not a valid case; 3 reference package
not importable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep scripts/py/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _oef_ref as ref  # noqa: E402

KNOWN_KEYS = {"model", "kwargs", "hyperparameters", "expect", "reference_error"}


def read_case(path):
    try:
        if path is None or path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        case = json.loads(text)
    except (OSError, ValueError) as exc:
        ref.die(f"cannot read the case JSON: {exc}")
    if not isinstance(case, dict):
        ref.die("the case must be a JSON object")
    unknown = set(case) - KNOWN_KEYS
    if unknown:
        ref.die(f"unknown case member(s): {', '.join(sorted(unknown))} (expected {', '.join(sorted(KNOWN_KEYS))})")
    if not isinstance(case.get("model"), str):
        ref.die("'model' must be a string (an architecture key)")
    kwargs = case.get("kwargs", {})
    if not isinstance(kwargs, dict):
        ref.die("'kwargs' must be a JSON object")
    hps = case.get("hyperparameters", []) or []
    if not isinstance(hps, list):
        ref.die("'hyperparameters' must be a list")
    for i, hp in enumerate(hps):
        if not isinstance(hp, dict) or not isinstance(hp.get("path"), str):
            ref.die(f"hyperparameters[{i}] must be an object with a string 'path'")
        if set(hp) - {"path", "distribution"}:
            ref.die(f"hyperparameters[{i}]: unknown member(s) {', '.join(sorted(set(hp) - {'path', 'distribution'}))}")
        if not (hp.get("distribution") is None or isinstance(hp["distribution"], dict)):
            ref.die(f"hyperparameters[{i}].distribution must be an object or null")
    return case["model"], kwargs, hps


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Exit codes: 0 result printed (ok true/false), 2 invalid case input, 3 environment error.",
    )
    p.add_argument("case_file", nargs="?", metavar="CASE_FILE", help="read the case from this file instead of stdin ('-' = stdin)")
    args = p.parse_args(argv)

    model, kwargs, hps = read_case(args.case_file)
    r = ref.load_reference()
    try:
        builder = r["ExperimentBuilder"](model)
        for hp in hps:
            builder.add_hyperparameter(hp["path"], hp.get("distribution"))
        xp = builder.build(**kwargs)
        pb = xp.SerializeToString(deterministic=True)
        out = {"ok": True, "json": json.loads(r["json_format"].MessageToJson(xp)), "pb_hex": pb.hex()}
    except Exception as exc:  # any reference failure is a result to compare against
        out = {"ok": False, **ref.format_error(exc)}
    print(json.dumps(out))
    return ref.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
