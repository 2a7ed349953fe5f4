"""Write the default experiment of every architecture with the Python reference builder.

For each of the catalog's keys (404 in deepomatic-oef 0.23.1) builds
``ExperimentBuilder(key).build(config_path="gs://bucket/dataset/config.prototxt")``
and writes one file per key into DIR (created if missing):

  --format binary  ->  DIR/<key>.pb    SerializeToString(deterministic=True)
  --format json    ->  DIR/<key>.json  json_format.MessageToJson(xp) (canonical
                                       proto3 JSON, 2-space indent, no trailing newline)

The output is byte-identical to tests/fixtures/legacy-oef/defaults/. This is the
Python side of the process-level export benchmark. Stdout stays empty; a
one-line summary goes to stderr.

Exit codes: 0 success; 1 a build failed; 2 bad usage / cannot write DIR;
3 reference package not importable.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep scripts/py/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _oef_ref as ref  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Exit codes: 0 success, 1 build failure, 2 usage/IO error, 3 environment error.",
    )
    p.add_argument("--format", required=True, choices=["binary", "json"], help="output encoding")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory (created if missing)")
    args = p.parse_args(argv)

    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as exc:
        ref.die(f"cannot create {args.output}: {exc}")

    r = ref.load_reference()
    Builder, json_format = r["ExperimentBuilder"], r["json_format"]
    binary = args.format == "binary"
    ext = ".pb" if binary else ".json"

    for key in r["model_keys"]:
        try:
            xp = Builder(key).build(**ref.DEFAULT_KWARGS)
            payload = xp.SerializeToString(deterministic=True) if binary else json_format.MessageToJson(xp).encode("utf-8")
        except Exception as exc:
            ref.die(f"reference build of {key} failed: {type(exc).__name__}: {exc}", ref.EXIT_FAILED)
        try:
            with open(os.path.join(args.output, key + ext), "wb") as f:
                f.write(payload)
        except OSError as exc:
            ref.die(f"cannot write {key + ext}: {exc}")

    print(f"wrote {len(r['model_keys'])} {ext} files to {args.output}", file=sys.stderr)
    return ref.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
