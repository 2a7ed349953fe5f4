"""Benchmark the reference ExperimentBuilder (deepomatic-oef 0.23.1) in-process.

One round builds every architecture of the catalog once (404 keys), each with
``ExperimentBuilder(key).build(config_path="gs://bucket/dataset/config.prototxt")``,
timed with ``time.perf_counter`` (garbage collector disabled during the round).
The model list is loaded and one untimed warm-up build is done before timing.
The best of ``--rounds`` rounds is reported as microseconds per build.

Prints one JSON object on stdout: ``{"build_us_per_experiment": x, "builds": n}``
where ``n`` is the number of builds per round.

Exit codes: 0 success; 1 a reference build failed; 2 bad usage;
3 reference package not importable.
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


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Exit codes: 0 success, 1 build failure, 2 usage error, 3 environment error.",
    )
    p.add_argument("--rounds", type=int, default=5, help="number of timed rounds; the best is reported (default 5)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        ref.die("--rounds must be >= 1")

    r = ref.load_reference()
    Builder, keys = r["ExperimentBuilder"], r["model_keys"]
    kwargs = ref.DEFAULT_KWARGS

    try:
        Builder(keys[0]).build(**kwargs)  # warm-up: loads the model list, imports all pb2 modules
    except Exception as exc:
        ref.die(f"reference build of {keys[0]} failed: {type(exc).__name__}: {exc}", ref.EXIT_FAILED)

    best = float("inf")
    for _ in range(args.rounds):
        gc.disable()
        try:
            t0 = time.perf_counter()
            for key in keys:
                Builder(key).build(**kwargs)
            best = min(best, time.perf_counter() - t0)
        except Exception as exc:
            ref.die(f"reference build failed: {type(exc).__name__}: {exc}", ref.EXIT_FAILED)
        finally:
            gc.enable()

    print(json.dumps({"build_us_per_experiment": round(best / len(keys) * 1e6, 3), "builds": len(keys)}))
    return ref.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
