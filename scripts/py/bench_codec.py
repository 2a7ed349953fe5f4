"""Benchmark the reference Python protobuf codec on the legacy experiment corpus.

Reads every ``*.pb`` and ``*.json`` in FIXTURE_DEFAULTS_DIR (e.g.
tests/fixtures/legacy-oef/defaults; ``*.kwargs.json`` / ``*.case.json`` are
ignored) into memory, then measures in-process with ``time.perf_counter``:

  (a) binary: ``Experiment.ParseFromString`` + ``SerializeToString(deterministic=True)``
      per message;
  (b) JSON:   ``json_format.Parse`` + ``json_format.MessageToJson`` per message.

Each round runs over all messages once (garbage collector disabled during the
round); the best of ``--rounds`` rounds is reported, in microseconds per message.
Prints one JSON object on stdout:

  {"binary_us_per_msg": x, "json_us_per_msg": y, "messages": n,
   "avg_binary_bytes": b, "protobuf_impl": api_implementation.Type()}

``messages`` is the number of ``*.pb`` files. Exit codes: 0 success; 2 bad usage
(missing dir, no ``*.pb``, undecodable file); 3 reference package not importable.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # keep scripts/py/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _oef_ref as ref  # noqa: E402


def best_round_seconds(fn, rounds):
    best = float("inf")
    for _ in range(rounds):
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
        finally:
            if gc_was_enabled:
                gc.enable()
        best = min(best, dt)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Exit codes: 0 success, 2 usage/input error, 3 environment error.",
    )
    p.add_argument("dir", metavar="FIXTURE_DEFAULTS_DIR", help="directory with <key>.pb and <key>.json files")
    p.add_argument("--rounds", type=int, default=5, help="number of timed rounds; the best is reported (default 5)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        ref.die("--rounds must be >= 1")
    if not os.path.isdir(args.dir):
        ref.die(f"not a directory: {args.dir}")

    r = ref.load_reference()
    Experiment, json_format = r["Experiment"], r["json_format"]

    names = sorted(os.listdir(args.dir))
    pb_blobs, json_texts = [], []
    for n in names:
        path = os.path.join(args.dir, n)
        if n.endswith(".pb"):
            with open(path, "rb") as f:
                pb_blobs.append(f.read())
        elif n.endswith(".json") and not (n.endswith(".kwargs.json") or n.endswith(".case.json")):
            with open(path, encoding="utf-8") as f:
                json_texts.append(f.read())
    if not pb_blobs:
        ref.die(f"no *.pb files in {args.dir}")
    if not json_texts:
        ref.die(f"no *.json files in {args.dir}")
    if len(json_texts) != len(pb_blobs):
        print(f"warning: {len(pb_blobs)} .pb files but {len(json_texts)} .json files", file=sys.stderr)

    # Validate inputs once, outside the timed region, so a bad file gives a clear error.
    for blob_or_text, kind in [(b, "pb") for b in pb_blobs] + [(t, "json") for t in json_texts]:
        try:
            if kind == "pb":
                Experiment().ParseFromString(blob_or_text)
            else:
                json_format.Parse(blob_or_text, Experiment())
        except Exception as exc:
            ref.die(f"a .{kind} file in {args.dir} does not decode as an Experiment: {type(exc).__name__}: {exc}")

    def binary_round():
        for blob in pb_blobs:
            m = Experiment()
            m.ParseFromString(blob)
            m.SerializeToString(deterministic=True)

    def json_round():
        for text in json_texts:
            m = json_format.Parse(text, Experiment())
            json_format.MessageToJson(m)

    binary_s = best_round_seconds(binary_round, args.rounds)
    json_s = best_round_seconds(json_round, args.rounds)
    out = {
        "binary_us_per_msg": round(binary_s / len(pb_blobs) * 1e6, 3),
        "json_us_per_msg": round(json_s / len(json_texts) * 1e6, 3),
        "messages": len(pb_blobs),
        "avg_binary_bytes": round(sum(map(len, pb_blobs)) / len(pb_blobs), 1),
        "protobuf_impl": r["api_implementation"].Type(),
    }
    print(json.dumps(out))
    return ref.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
