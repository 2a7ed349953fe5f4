"""Check experiments written by another implementation against the Python reference.

For every ``DIR/<stem>.pb`` (a binary ``deepomatic.oef.experiment.Experiment``,
format v0) this script:

1. decodes it with the reference generated classes
   (``deepomatic.oef.protos.experiment_pb2.Experiment``);
2. builds the same experiment with the reference ``ExperimentBuilder`` and
   compares the two messages with ``==`` (``builder_equal``).  The model key is
   ``<stem>`` and the keyword arguments are ``{"config_path":
   "gs://bucket/dataset/config.prototxt"}``, unless ``DIR/<stem>.kwargs.json``
   exists.  That file is either a plain JSON object of keyword arguments, or a
   builder case ``{"model": key, "kwargs": {...}, "hyperparameters":
   [{"path": ..., "distribution": <HyperParameter proto JSON> | null}]}`` (the
   case form is recognised by its ``"kwargs"`` member; ``model`` defaults to
   ``<stem>``);
3. re-encodes the decoded message with ``SerializeToString(deterministic=True)``
   and checks the bytes equal the file's bytes (``bytes_roundtrip``);
4. if ``DIR/<stem>.json`` exists, parses it with ``json_format.Parse`` and
   compares it to the decoded binary message (``json_equal``).

One JSON line is printed per file, then a final line ``N passed, M failed``.
All architectures are built in this one process (the builder is imported once).

Exit codes: 0 all passed; 1 at least one file failed; 2 bad usage (DIR missing,
no ``*.pb`` in it); 3 the reference package is not importable (run with the
python printed by ``scripts/python-env.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep scripts/py/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _oef_ref as ref  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Exit codes: 0 all passed, 1 some failed, 2 usage error, 3 environment error.",
    )
    p.add_argument("dir", metavar="DIR", help="directory holding <key>.pb (+ optional <key>.json, <key>.kwargs.json)")
    p.add_argument("--failures-only", action="store_true", help="print the JSON line only for failing files")
    return p.parse_args(argv)


def load_spec(stem, kwargs_path):
    """Return (model_key, kwargs, hyperparameters) for ``stem``; raises ValueError on a bad file."""
    if not os.path.exists(kwargs_path):
        return stem, dict(ref.DEFAULT_KWARGS), []
    try:
        with open(kwargs_path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {os.path.basename(kwargs_path)}: {exc}") from exc
    if not isinstance(spec, dict):
        raise ValueError(f"{os.path.basename(kwargs_path)} must hold a JSON object")
    if "kwargs" in spec:  # builder-case form
        model = spec.get("model", stem)
        kwargs = spec["kwargs"]
        hps = spec.get("hyperparameters") or []
        if not isinstance(kwargs, dict) or not isinstance(hps, list):
            raise ValueError(f"{os.path.basename(kwargs_path)}: 'kwargs' must be an object and 'hyperparameters' a list")
        return model, kwargs, hps
    return stem, spec, []


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(args.dir):
        ref.die(f"not a directory: {args.dir}")
    stems = sorted(n[:-3] for n in os.listdir(args.dir) if n.endswith(".pb"))
    if not stems:
        ref.die(f"no *.pb files in {args.dir}")

    r = ref.load_reference()
    Experiment, json_format, Builder = r["Experiment"], r["json_format"], r["ExperimentBuilder"]
    default_cache = {}  # model key -> Experiment built with DEFAULT_KWARGS (or the exception)

    def build(model, kwargs, hps):
        is_default = kwargs == ref.DEFAULT_KWARGS and not hps
        if is_default and model in default_cache:
            return default_cache[model]
        try:
            b = Builder(model)
            for hp in hps:
                b.add_hyperparameter(hp["path"], hp.get("distribution"))
            out = b.build(**kwargs)
        except Exception as exc:  # the reference raises Exception/AssertionError/ValueError/...
            out = exc
        if is_default:
            default_cache[model] = out
        return out

    passed = failed = 0
    for stem in stems:
        pb_path = os.path.join(args.dir, stem + ".pb")
        line = {"file": stem + ".pb", "model": stem, "ok": False, "decode": False,
                "builder_equal": None, "bytes_roundtrip": None, "json_equal": None, "errors": []}
        errors = line["errors"]
        msg = None
        try:
            with open(pb_path, "rb") as f:
                data = f.read()
            msg = Experiment()
            msg.ParseFromString(data)
            line["decode"] = True
        except Exception as exc:
            errors.append(f"decode: {type(exc).__name__}: {exc}")
            msg = None

        if msg is not None:
            # (3) deterministic re-encoding must reproduce the file byte for byte
            again = msg.SerializeToString(deterministic=True)
            line["bytes_roundtrip"] = again == data
            if again != data:
                first = next((i for i, (x, y) in enumerate(zip(again, data)) if x != y), min(len(again), len(data)))
                errors.append(f"bytes_roundtrip: re-encoded {len(again)} bytes vs file {len(data)} bytes, first difference at offset {first}")

            # (2) equality with the reference builder
            try:
                model, kwargs, hps = load_spec(stem, os.path.join(args.dir, stem + ".kwargs.json"))
                line["model"] = model
                built = build(model, kwargs, hps)
                if isinstance(built, Exception):
                    line["builder_equal"] = False
                    errors.append(f"builder: reference build failed: {type(built).__name__}: {built}")
                else:
                    line["builder_equal"] = built == msg
                    if not line["builder_equal"]:
                        errors.extend("builder_equal: " + d for d in ref.message_diff(msg, built))
            except ValueError as exc:
                line["builder_equal"] = False
                errors.append(f"builder: {exc}")

            # (4) the JSON twin, if any, must denote the same message
            json_path = os.path.join(args.dir, stem + ".json")
            if os.path.exists(json_path):
                try:
                    with open(json_path, encoding="utf-8") as f:
                        from_json = json_format.Parse(f.read(), Experiment())
                    line["json_equal"] = from_json == msg
                    if not line["json_equal"]:
                        errors.extend("json_equal: " + d for d in ref.message_diff(msg, from_json))
                except Exception as exc:
                    line["json_equal"] = False
                    errors.append(f"json: {type(exc).__name__}: {exc}")

        line["ok"] = (line["decode"] and line["builder_equal"] is True and line["bytes_roundtrip"] is True
                      and line["json_equal"] is not False)
        if line["ok"]:
            passed += 1
        else:
            failed += 1
        if not (args.failures_only and line["ok"]):
            print(json.dumps(line, sort_keys=False), flush=False)

    print(f"{passed} passed, {failed} failed", flush=True)
    return ref.EXIT_FAILED if failed else ref.EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ref.EXIT_FAILED)
