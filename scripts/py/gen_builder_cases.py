"""Generate random builder cases and record what the reference builder does with them.

For differential testing of crates/oef-builder against deepomatic-oef 0.23.1: writes
``<out>/rNNNN.case.json`` in the format of tests/fixtures/legacy-oef/overrides (``model``,
``kwargs``, ``hyperparameters``, ``expect``, ``reference_error``) and, for ``ok`` cases,
``rNNNN.pb`` / ``rNNNN.json`` (deterministic binary, MessageToJson).

  "$(scripts/python-env.sh)" scripts/py/gen_builder_cases.py --count 500 --seed 1 -o target/builder-cases
  OEF_BUILDER_CASES=target/builder-cases cargo test -p oef-builder --test reference -- --ignored

Exit codes: 0 success; 2 bad usage; 3 reference package not importable.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _oef_ref as ref  # noqa: E402

from google.protobuf.descriptor import FieldDescriptor as FD  # noqa: E402


def schema_fields(root):
    """(name, field descriptor, dotted path) of every field reachable from root."""
    out, seen = [], set()

    def walk(desc, prefix):
        if desc.full_name in seen:
            return
        seen.add(desc.full_name)
        for f in desc.fields:
            path = f"{prefix}.{f.name}" if prefix else f.name
            out.append((f.name, f, path))
            if f.message_type is not None and not f.message_type.GetOptions().map_entry:
                walk(f.message_type, path)

    walk(root, "")
    return out


def message_value(desc, rnd, depth):
    """A dict for message desc: maybe a oneof member, maybe a few inner values."""
    out = {}
    members = [m for o in desc.oneofs for m in o.fields]
    if members and rnd.random() < 0.7:
        m = rnd.choice(members)
        out[m.name] = message_value(m.message_type, rnd, depth + 1) if m.message_type is not None and depth < 3 else {}
    plain = [f for f in desc.fields if f.containing_oneof is None]
    for _ in range(rnd.choice([0, 0, 1, 2])):
        if plain and depth < 3:
            f = rnd.choice(plain)
            out[f.name] = value_for(f, rnd, valid=rnd.random() < 0.9, depth=depth + 1)
    return out


def value_for(f, rnd, valid=True, depth=0):
    """A value for field f: usually a plausible one, sometimes a wrong one."""
    if f.message_type is not None and f.label != FD.LABEL_REPEATED:
        if valid:
            return message_value(f.message_type, rnd, depth)
        return rnd.choice([5, None, [], "x"])
    if f.label == FD.LABEL_REPEATED:
        if f.message_type is not None:
            if f.message_type.GetOptions().map_entry:
                return {} if valid else [None]
            if valid:
                return [message_value(f.message_type, rnd, depth) for _ in range(rnd.choice([0, 1, 2]))]
            return rnd.choice([[None], [{"nope": 1}], "ab", {"x": 1}])
        if f.type == FD.TYPE_STRING:
            return rnd.choice([["backbone/.*"], [], ["a", "b"]]) if valid else rnd.choice([5, [1], "ab"])
        return rnd.choice([[1.0, 2.0], []]) if valid else rnd.choice([["x"], 5])
    t = f.type
    if t == FD.TYPE_ENUM:
        names = [v.name for v in f.enum_type.values]
        return rnd.choice(names + [f.enum_type.values[0].number]) if valid else rnd.choice(["NOPE", 99, 1.5])
    if t in (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32):
        return rnd.choice([0, 1, 2, 4, 8, 16, 1000, True]) if valid else rnd.choice([1.5, "3", 2**40, -1, None])
    if t in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return rnd.choice([0.0, 0.05, 0.5, 0.9, 1, 2.5, 1e-5, 0.001]) if valid else rnd.choice(["0.1", [0.1], None, 1e300])
    if t == FD.TYPE_BOOL:
        return rnd.choice([True, False, 1, 0]) if valid else rnd.choice(["true", 0.5, None])
    if t == FD.TYPE_STRING:
        return rnd.choice(["custom/weights.tar.gz", "", "/data/images", "x"]) if valid else rnd.choice([5, None, ["a"]])
    return None


def distribution(rnd):
    return rnd.choice([
        None, None, None,
        {"uniform": {"min": 0.0, "max": 1.0}},
        {"uniform": {"min": 1, "max": 2}},
        {"log_uniform": {"min": 0.0001, "max": 0.01}},
        {"normal": {"mu": 0.5, "sigma": 0.05}},
        {"categorical": {"values": [{"integer_value": 2}, {"integer_value": 4}, {"integer_value": 8}]}},
        {"categorical": {"values": [{"string_value": "adam_optimizer"}, {"string_value": "momentum_optimizer"}]}},
        {"categorical": {"values": [{"boolean_value": True}]}},
        {"categorical": {"values": [{"float_value": 0.5}, {"float_value": 0.9}]}},
        {"uniform": {"min": 1}},
        {"nope": 1},
        {},
        {"uniform": {"min": "0.1", "max": "1"}},
        {"categorical": {"values": [{"integerValue": 2}, {"integerValue": 8}]}},
        {"categorical": {"values": [{"integer_value": 2.0}]}},
        {"categorical": {"values": [{"integer_value": "4"}]}},
        {"categorical": {"values": [{}]}},
        {"categorical": {"values": []}},
        {"uniform": {"min": None, "max": 1}},
        {"uniform": {"min": 0, "max": 1}, "normal": {"mu": 0, "sigma": 1}},
        {"logUniform": {"min": 1e-5, "max": 0.1}},
        {"normal": {"mu": 0.5, "sigma": -0.1}},
        {"categorical": {"values": [{"boolean_value": "true"}]}},
        {"categorical": {"values": [{"string_value": 5}]}},
        {"uniform": {"min": 1.5, "max": 2, "extra": 1}},
        {"categorical": None},
    ])


HP_PATHS = [
    "trainer.initial_learning_rate", "trainer.batch_size", "trainer.optimizer",
    "trainer.learning_rate_policy", "trainer.num_train_steps", "trainer.num_train_epochs",
    "trainer.optimizer.rms_prop_optimizer.momentum_optimizer_value",
    "trainer.optimizer.momentum_optimizer.momentum_optimizer_value",
    "trainer.optimizer.use_moving_average", "trainer.optimizer.moving_average_decay",
    "trainer.add_regularization_loss", "trainer.nope", "trainer", "trainer.batch_size.x",
    "trainer.optimizer.momentum_optimizer", "dataset.config_path", "seed",
    "trainer.learning_rate_policy.manual_step_learning_rate.schedule.step_pct",
    "trainer.learning_rate_policy.manual_step_learning_rate.schedule", "trainer.freeze_variables",
    "hyperparameters", "hyperparameters.value", "view_ids", "max_hp_runs", "dataset",
    "trainer.image_classification.backbone.input.image_resizer", "trainer.optimizer.nadam_optimizer.beta_1",
    "trainer.", ".trainer", "", "trainer.image_detection.ssd.post_processing",
]


ARCHITECTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "legacy-oef", "architectures.json")
DEFAULT_NAMES = {}


def load_default_names(by_name):
    """Field names appearing in each architecture's default_args (kwargs likely to be used)."""
    try:
        with open(ARCHITECTURES, encoding="utf-8") as f:
            arch = json.load(f)
    except OSError:
        return

    def names(d, out):
        for k, v in d.items():
            if k in by_name:
                out.add(k)
            if isinstance(v, dict):
                names(v, out)

    for key, entry in arch.items():
        out = set()
        names(entry["default_args"], out)
        DEFAULT_NAMES[key] = sorted(out - {"hyperparameters"})


def make_case(rnd, keys, fields, by_name):
    model = rnd.choice(keys)
    kwargs = {}
    r = rnd.random()
    if r < 0.04:  # the pre-0.5 order: task, meta_arch..., backbone, pretraining
        parts = model.split(".")
        model = ".".join([parts[0]] + parts[2:] + [parts[1]])
    elif r < 0.07:
        model = rnd.choice([model[:-1], model + "x", model.replace(".", "_", 1), "", "x", "a.b"])
    if rnd.random() < 0.93:
        kwargs["config_path"] = "gs://bucket/dataset/config.prototxt"
    used_names = DEFAULT_NAMES.get(model, [])
    for _ in range(rnd.choice([0, 1, 1, 2, 2, 3, 4])):
        name, f, _ = rnd.choice(fields)
        if used_names and rnd.random() < 0.6:
            name = rnd.choice(used_names)
            f = by_name[name]
        if name in ("hyperparameters",):
            continue
        kwargs[name] = value_for(f, rnd, valid=rnd.random() < 0.85)
    r = rnd.random()
    if r < 0.05:
        kwargs["not_a_field"] = 1
    elif r < 0.08:
        kwargs["batch_size "] = 2
    elif r < 0.12:
        kwargs["optimizer"] = {"adam_optimizer": {}, "momentum_optimizer_value": 0.5}
    elif r < 0.15:
        kwargs["adam_optimizer"] = {}
        kwargs["nadam_optimizer"] = {}
    elif r < 0.2:
        kwargs[rnd.choice(["nadam_optimizer", "yogi_optimizer", "rms_prop_optimizer"])] = {}
    elif r < 0.24:
        kwargs["optimizer"] = {"momentum_optimizer": {"momentum_optimizer_value": 0.5}}
        kwargs["momentum_optimizer_value"] = rnd.choice([0.7, 1.5])
    elif r < 0.27:
        kwargs["learning_rate_policy"] = {"manual_step_learning_rate": {"schedule": [{"step_pct": 0.5, "learning_rate_factor": 0.1}]}}
    elif r < 0.3:
        kwargs["quantization"] = {"nonexistent": 1}
    elif r < 0.33:
        kwargs["hyperparameters"] = rnd.choice([
            {"trainer.batch_size": {"categorical": {"values": [{"integer_value": 2}]}}},
            {"trainer.initial_learning_rate": {"uniform": {"min": 0.5, "max": 0.6}}},
            {"x": {}}, {"x": None}, {"x": 1}, [],
        ])
    hps = []
    if rnd.random() < 0.35:
        for _ in range(rnd.choice([1, 1, 2])):
            path = rnd.choice(HP_PATHS)
            hps.append({"path": path, "distribution": distribution(rnd)})
            last = path.split(".")[-1]
            if rnd.random() < 0.6 and last in by_name:
                f = by_name[last]
                if f.message_type is not None and f.label != FD.LABEL_REPEATED:
                    members = [m.name for o in f.message_type.oneofs for m in o.fields]
                    if members:
                        kwargs[last] = {rnd.choice(members): {}}
                else:
                    kwargs[last] = value_for(f, rnd, valid=rnd.random() < 0.9)
    return {"model": model, "kwargs": kwargs, "hyperparameters": hps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args(argv)
    r = ref.load_reference()
    os.makedirs(args.out, exist_ok=True)
    rnd = random.Random(args.seed)
    keys = sorted(r["model_keys"])
    fields = schema_fields(r["Experiment"].DESCRIPTOR)
    by_name = {}
    for name, f, _ in fields:
        by_name.setdefault(name, f)
    load_default_names(by_name)
    counts = {}
    for i in range(args.count):
        case = make_case(rnd, keys, fields, by_name)
        stem = os.path.join(args.out, f"r{i:04d}")
        try:
            b = r["ExperimentBuilder"](case["model"])
            for hp in case["hyperparameters"]:
                b.add_hyperparameter(hp["path"], hp["distribution"])
            xp = b.build(**case["kwargs"])
            pb = xp.SerializeToString(deterministic=True)
            case.update(expect="ok", reference_error=None)
            with open(stem + ".pb", "wb") as f:
                f.write(pb)
            with open(stem + ".json", "w") as f:
                f.write(r["json_format"].MessageToJson(xp))
        except Exception as exc:  # a rejected case is a result
            e = ref.format_error(exc)
            case.update(expect="error", reference_error=f"{e['error_type']}: {e['error']}")
        key = case["reference_error"].split(":")[0] if case["reference_error"] else "ok"
        counts[key] = counts.get(key, 0) + 1
        with open(stem + ".case.json", "w") as f:
            json.dump(case, f, indent=1, sort_keys=True)
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
