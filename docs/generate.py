"""Writes the docs pages made from data: the configuration reference from the schema, the benchmarks page from
the benchmarks' JSON files. tests/test_docs.py fails when either page is stale.

    python docs/generate.py            # writes docs/configuration.md and docs/benchmarks.md
"""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.config import schema  # noqa: E402

# ---------------------------------------------------------------------------------------------------------
# The configuration reference


def _type_name(kind: Any) -> str:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is typing.Union and len(args) == 1:
        return f"{_type_name(args[0])} or null"
    if kind is Any:
        return "any"
    origin = typing.get_origin(kind)
    if origin in (list, dict):
        return origin.__name__
    return getattr(kind, "__name__", str(kind))


def _default(f: dataclasses.Field) -> str:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
        return "" if dataclasses.is_dataclass(value) else f"`{json.dumps(value)}`"
    if f.default is dataclasses.MISSING or f.default == "???":
        return "required"
    return (
        "`null`"
        if f.default is None
        else f"`{json.dumps(f.default) if isinstance(f.default, (bool, list)) else f.default}`"
    )


def _allowed(f: dataclasses.Field, kind: Any) -> str:
    allowed = f.metadata.get("allowed")
    if allowed is None:
        return ""
    if allowed.choices:
        return " \\| ".join(f"`{c}`" for c in allowed.choices)
    if allowed.low is None and allowed.high is None:
        return ""
    low = "" if allowed.low is None else f"{'>' if allowed.low_open else '≥'} {allowed.low:g}"
    high = "" if allowed.high is None else f"{'<' if allowed.high_open else '≤'} {allowed.high:g}"
    return ", ".join(x for x in (low, high) if x)


def _meaning(f: dataclasses.Field, section: schema.Properties | None = None) -> str:
    """The knob's doc with what else is declared with it (harness.config.schema.Properties)."""
    props = schema.properties(f)
    ignored = props.ignored_by or (section.ignored_by if section else ())
    doc = f.metadata.get("doc", "").replace("|", "\\|")
    if props.used_by:
        doc = f"{', '.join(props.used_by)}{' (required)' if props.required else ''}: {doc}"
    if not props.identity:
        doc += " *Not part of a run's identity.*"
    if ignored:
        doc += f" *Not applied by tuner={' or '.join(ignored)}: its default only.*"
    return doc


def _rows(cls: type, prefix: str, seen: set[type], section: schema.Properties | None = None) -> list[str]:
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        inner = args[0] if typing.get_origin(kind) is typing.Union and len(args) == 1 else kind
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(inner) and inner not in (schema.StudyConfig,):
            rows += _rows(inner, f"{key}.", seen, schema.properties(f))
            continue
        rows.append(f"| `{key}` | {_type_name(kind)} | {_default(f)} | {_allowed(f, kind)} | {_meaning(f, section)} |")
    return rows


SECTIONS = [
    (
        "dataset",
        schema.DatasetConfig,
        "The `dataset` group: `dataset=oxford_flowers102` (the default), `folder`, `digits`, or any "
        "TFDS name with `dataset=tfds dataset.name=<name>`.",
    ),
    ("data", schema.DataConfig, "How images become network inputs."),
    (
        "model",
        schema.TransferModel,
        "The `model` group: `transfer` (the default) and `random_init` (the same architecture from "
        "random weights, every layer trained).",
    ),
    ("model", schema.ScratchModel, "`model=scratch`: a plain conv net."),
    ("train", schema.TrainConfig, "How the model trains."),
    ("sweep", schema.SweepConfig, "A one-knob sweep: `sweep=<name>` from `conf/sweep/`, or `-m key=a,b,c`."),
    (
        "tuner",
        schema.TunerConfig,
        "A search: `tuner=random | hyperband | bayesian` (Keras Tuner) or `tuner=autokeras` from `conf/tuner/`.",
    ),
    ("study", schema.StudyConfig, "A study: `study=chapter5` from `conf/study/`."),
    (
        "cost",
        schema.CostConfig,
        "What a run records of its model's inference cost ([Choosing a model to ship](deploy.md)).",
    ),
    (
        "report",
        schema.ReportConfig,
        "What an experiment's report answers ([Choosing a model to ship](deploy.md), "
        "[Inspecting the data](inspecting-data.md)).",
    ),
    (
        "explain",
        schema.ExplainConfig,
        "What `analysis=true` shows of why the model decides ([Inspecting the data](inspecting-data.md)).",
    ),
]


def configuration() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Every key, its type, default, allowed values and meaning, generated from `harness/config/schema.py` by "
        "`python docs/generate.py` (a test fails when this page is stale). Each knob is declared there once; the YAML "
        "files in `conf/` hold only what a preset changes, and `harness/config/validate.py` checks every range and "
        "choice below before TensorFlow starts. Override any key on the command line: `train.learning_rate=0.01`.",
        "",
        "A knob is part of a run's identity (its config hash: a run with the same identity that completed is not "
        "trained again) unless it changes neither the numbers a run computes nor what it leaves in its folder; "
        "those say so below. A search setting names the searches that use it (set for another, it is refused). A "
        "knob that AutoKeras's search does not apply says so: `tuner=autokeras` refuses it unless it keeps its "
        "default, and its trials' records leave it out.",
        "",
        "## Top-level keys",
        "",
        "| key | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    hints = typing.get_type_hints(schema.Config)
    for f in dataclasses.fields(schema.Config):
        if dataclasses.is_dataclass(hints[f.name]) or f.name in ("model", "tuner", "study"):
            continue
        lines.append(
            f"| `{f.name}` | {_type_name(hints[f.name])} | {_default(f)} | {_allowed(f, hints[f.name])} | {_meaning(f)} |"
        )
    for prefix, cls, intro in SECTIONS:
        title = f"`{prefix}` ({cls.__name__})"
        lines += [
            "",
            f"## {title}",
            "",
            intro,
            "",
            "| key | type | default | allowed | meaning |",
            "|---|---|---|---|---|",
            *_rows(cls, f"{prefix}.", set()),
        ]
        if cls is schema.StudyConfig:
            lines += [
                "",
                "Each entry of `study.findings`:",
                "",
                "| key | type | default | allowed | meaning |",
                "|---|---|---|---|---|",
                *_rows(schema.Finding, "", set()),
            ]
    lines += [
        "",
        "Where the launchers are configured: `hydra.launcher.*` (see [Scaling out](scaling.md)); the search space "
        "format: [Searches](searches.md).",
        "",
        "## What a preset may set",
        "",
        "Presets in your own folder (`harness --config-dir DIR experiment=mine`, and every other group folder in "
        "DIR) are read as data before Hydra composes them (`harness/config/presets.py`). A preset may set any key "
        "above (interpolations such as `${oc.env:DATA}` included), pick group options in its `defaults` list "
        "(also `override /hydra/launcher` and `override /hydra/sweeper`) and set `hydra.mode`. It may not set any "
        "other part of Hydra's config (`hydra.run` and `hydra.sweep` directories, logging, callbacks), hold a key "
        "Hydra instantiates (`_target_`), use a YAML tag, hold a `config.yaml` at DIR's top or files under "
        "`DIR/hydra/`: where a run writes, what it logs to and what runs at its end are the harness's. Such a "
        "preset is one line naming the file and the key, exit status 2, before anything is written. Files in "
        "hidden folders (`.hydra/`, which Hydra writes into every run) are not presets and are not read.",
        "",
        "A yes/no key takes `true` or `false` (any case), on the command line and in a preset: `1`/`0`, `yes`/`no` "
        "and `on`/`off` are refused (OmegaConf would read `2` or `yes` as true).",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# The benchmarks page

RESULTS = ROOT / "benchmarks" / "results"


def _script(command: str) -> str:
    return next((w for w in command.split() if w.startswith("benchmarks/") and w.endswith(".py")), "")


def _purpose(script: str) -> str:
    path = ROOT / script
    if not path.is_file():
        return ""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in r) + " |" for r in rows),
    ]


def _study_speed(d: dict) -> list[str]:
    rows = [["plain Keras (one script, every run by hand)", f"{d['plain']['seconds']:.0f} s"]] if d.get("plain") else []
    if d.get("harness_before"):
        rows.append([f"the harness at {d['harness_before']['commit']}", f"{d['harness_before']['seconds']:.0f} s"])
    rows.append(["the harness (`study=chapter5 study.seeds=1`)", f"{d['harness']['seconds']:.0f} s"])
    out = _table(["side", "wall time"], rows)
    if d.get("speedup"):
        out.append(f"\nSpeed-up: **{d['speedup']:.2f}x**, the same {len(d['harness']['runs'])} runs.")
    sides = [(name, d[name]) for name in ("harness_before", "harness") if d.get(name, {}).get("profile")]
    if sides:
        stages = list(sides[0][1]["profile"]["seconds"])
        out += [
            "",
            "Where the trained runs' time went, summed over them (worker-seconds, from their records):",
            "",
            *_table(
                ["stage", *(side.get("commit", "this version") for _, side in sides)],
                [
                    [stage.replace("_", " "), *(_stage(side["profile"]["seconds"][stage]) for _, side in sides)]
                    for stage in stages
                ]
                + [["all", *(f"{side['profile']['total_seconds']:.1f} s" for _, side in sides)]]
                + [
                    [
                        "trained / copied runs",
                        *(f"{side['profile']['trained_runs']} / {side['profile']['copied_runs']}" for _, side in sides),
                    ]
                ],
            ),
        ]
    return out


def _stage(seconds: float | None) -> str:
    return "not timed (in the rest)" if seconds is None else f"{seconds:.1f} s"


def _scale_first_sweep(d: dict) -> list[str]:
    rows = []
    for r in d["sizes"]:
        for kind, name in (("sweep_before", f"code at {r.get('before_commit', 'before')}"), ("sweep", "this version")):
            if kind in r:
                s = r[kind]
                rows.append(
                    [
                        f"{r['images']:,}",
                        name,
                        f"{s['stages']['data']:.1f} s",
                        f"{s['stages']['images']:.1f} s",
                        f"{s['scan_and_image_cache_images_per_second']:.0f}",
                        f"{s['stages']['features']:.1f} s",
                        f"{s['stages']['epochs']:.1f} s",
                        f"{s['wall_seconds']:.0f} s",
                        f"{s['worker_peak_rss_mb']:.0f} MB",
                    ]
                )
    out = _table(
        ["images", "code", "scan", "image cache", "both, img/s", "features", "epochs", "sweep wall", "worker peak RSS"],
        rows,
    )
    for r in d["sizes"]:
        if "sweep_wall_ratio" in r:
            same = r["sweep"]["best_val_accuracy"] == r["sweep_before"]["best_val_accuracy"]
            out.append(
                f"\n{r['images']:,} images: the first sweep took x{r['sweep_wall_ratio']:.3f} the time of the code at "
                f"{r['before_commit']}; best val accuracy per learning rate {'the same' if same else 'DIFFERENT'}."
            )
    return out


def _concurrent_sweeps(d: dict) -> list[str]:
    rows = [
        [
            f"{name} ({d[name]['commit']})",
            f"{d[name]['cpu_alone_median']:.1f} s",
            f"{d[name]['cpu_two_median']:.1f} s",
            f"x{d[name]['cpu_ratio']:.2f}",
            f"{d[name]['cpu_again_median']:.1f} s" if "cpu_again_median" in d[name] else "",
        ]
        for name in ("before", "after")
        if name in d
    ]
    return _table(
        ["code", "one sweep, CPU", "two identical at once, CPU", "ratio", "the same sweep again (all done), CPU"], rows
    )


def _sweep_speed(d: dict) -> list[str]:
    rows = []
    for c in d.get("comparisons", []):
        base, harness = c.get("baseline", {}), c.get("harness", {})
        if base.get("seconds") and harness.get("seconds"):
            rows.append(
                [
                    c["name"],
                    f"{base['seconds']:.0f} s",
                    f"{harness['seconds']:.0f} s",
                    f"{base['seconds'] / harness['seconds']:.1f}x",
                ]
            )
    return _table(["comparison", "plain Keras", "harness", "ratio"], rows)


def _rows_table(d: dict) -> list[str]:
    rows = d.get("rows") or []
    if not rows:
        return []
    keys = [k for k in rows[0] if not isinstance(rows[0][k], (list, dict)) and k != "work_dir"]
    return _table(keys, [[f"{r[k]:.2f}" if isinstance(r.get(k), float) else r.get(k) for k in keys] for r in rows])


def _measured(d: dict) -> list[str]:
    return _table(
        ["run", "best val accuracy", "epoch", "epochs run", "wall"],
        [
            [
                r["label"],
                f"{r['best_val_accuracy']:.3f}",
                r["best_epoch"],
                r["epochs_run"],
                f"{r['wall_seconds']:.0f} s",
            ]
            for r in d["runs"]
        ],
    )


def _gc_cost(d: dict) -> list[str]:
    return _table(["runs", "garbage collection in all"], [[k, f"{v:.2f} s"] for k, v in d["total_gc_seconds"].items()])


def _checks(d: dict) -> list[str]:
    checks = d.get("checks", [])
    passed = sum(1 for c in checks if c.get("ok"))
    return [
        f"{passed} of {len(checks)} checks passed:",
        "",
        *(f"- {'ok' if c.get('ok') else 'FAILED'}: {c['check']}" for c in checks),
    ]


def _samples_per_class(d: dict) -> list[str]:
    out = []
    for study in d["studies"]:
        out += [f"\n`train.budget={study['budget']}` ({study['wall_seconds']:.0f} s):", ""]
        out += _table(
            ["images per class", "training images", "test accuracy (mean ± std over seeds)", "optimizer steps"],
            [
                [
                    v["value"],
                    v["num_train"],
                    f"{v['test_mean']:.3f} ± {v['test_std']:.3f}",
                    "–".join(map(str, sorted({min(v["optimizer_steps"]), max(v["optimizer_steps"])}))),
                ]
                for v in study["values"]
            ],
        )
        out += ["", *(f"- {f['claim']}: {f['shown']} → **{f['verdict']}**" for f in study["findings"])]
        if study.get("rejudged"):
            out += [
                "",
                f"Judged again with today's intervals ({study['rejudged_with']}; `{d.get('rejudged_by', '')}`):",
            ]
            out += ["", *(f"- {f['claim']}: {f['shown']} → **{f['verdict']}**" for f in study["rejudged"])]
    return out


def _augment_study(d: dict) -> list[str]:
    wall = f"{d['wall_seconds']:.0f} s" if d.get("wall_seconds") else "wall not recorded"
    out = [f"`{d.get('harness_command', '')}` ({wall}):", ""]
    out += _table(
        ["experiment", "value", "test accuracy (mean ± std over seeds)", "s / epoch", "input alone, s / epoch"],
        [
            [
                name,
                v["value"],
                f"{v['test_mean']:.3f} ± {v['test_std']:.3f}",
                v["seconds_per_epoch"],
                v["input_seconds_per_epoch"],
            ]
            for name, values in d["experiments"].items()
            for v in values
        ],
    )
    return out + ["", *(f"- {f['claim']}: {f['shown']} → **{f['verdict']}**" for f in d["findings"])]


def _automl(d: dict) -> list[str]:
    rows = []
    for name, side in d["sides"].items():
        exported = side.get("exported") or {}
        rows.append(
            [
                name,
                " ".join(side.get("args") or []) or "defaults",
                f"{side['wall_seconds']:.0f} s",
                side["runs"],
                side["chosen"] if name != "baseline" else "the run",
                f"{side['best_val_accuracy']:.3f}",
                f"{side['test_accuracy']:.3f}",
                f"{exported['accuracy_reloaded']:.3f}" if exported else "",
            ]
        )
    header = ["side", "settings", "wall", "runs", "chosen by val", "val", "test", "exported, reloaded: test"]
    return _table(header, rows)


def _bad_inputs(d: dict) -> list[str]:
    verdicts = ("strict", "partial", "failed", "skipped")
    before = d.get("before") or {}

    def line(totals: dict) -> str:
        return f"{sum(totals.values())} cases: " + ", ".join(f"{totals.get(v, 0)} {v}" for v in verdicts)

    out = [line(d["totals"]), ""]
    if before:
        note = f"; {before['note']}" if before.get("note") else ""
        out += [
            f"The same corpus on commit {before['commit']} ({before['command']}{note}): {line(before['totals'])}",
            "",
        ]
    earlier = {c["case"]: c["verdict"] for c in before.get("cases", [])}
    kinds = list(dict.fromkeys(c["kind"] for c in d["cases"]))

    def counts(cases: list[dict]) -> str:
        return ", ".join(f"{n} {v}" for v in verdicts if (n := sum(c["verdict"] == v for c in cases)))

    out += _table(
        ["kind", "cases", "outcome", *(["before"] if before else [])],
        [
            [
                kind,
                sum(c["kind"] == kind for c in d["cases"]),
                counts([c for c in d["cases"] if c["kind"] == kind]),
                *(
                    [counts([c for c in before.get("cases", []) if c.get("kind") == kind]) or "(not in the corpus)"]
                    if before
                    else []
                ),
            ]
            for kind in kinds
        ],
    )
    knobs = [c for c in d["cases"] if c["kind"] == "knob"]
    if knobs:
        out += [
            "",
            f"The {len(knobs)} knob cases give every knob of the schema a value of the wrong type and values just "
            "outside its range (`train.epochs=1.5`, `model.alpha=nan`, `data.augment=bogus`, ...); each one's "
            "outcome is in the JSON. The others, one by one:",
            "",
        ]
    return out + _table(
        ["kind", "case", "outcome", "exit", *(["before"] if before else [])],
        [
            [
                c["kind"],
                c["case"],
                c["verdict"],
                c.get("exit", ""),
                *([earlier.get(c["case"], "new")] if before else []),
            ]
            for c in d["cases"]
            if c["kind"] != "knob"
        ],
    )


def _scale(d: dict) -> list[str]:
    sizes = d["sizes"]
    out = _table(
        [
            "images",
            "classes",
            "scan",
            "image cache (img/s)",
            "tf.data AUTOTUNE (img/s)",
            "features",
            "epochs (4 runs)",
            "sweep wall",
            "sweep peak RSS",
            "unfreeze wall",
            "unfreeze peak RSS",
        ],
        [
            [
                r["images"],
                r["classes"],
                f"{r['sweep']['stages']['data']:.1f} s",
                f"{r['sweep']['stages']['images']:.1f} s ({r['image_cache_images_per_second']:.0f})",
                f"{r['tfdata_images_per_second']:.0f}",
                f"{r['sweep']['stages']['features']:.1f} s",
                f"{r['sweep']['stages']['epochs']:.1f} s",
                f"{r['sweep']['wall_seconds']:.0f} s",
                f"{max(r['sweep']['peak_rss_mb'])} MB",
                f"{r['unfreeze']['wall_seconds']:.0f} s",
                f"{max(r['unfreeze']['peak_rss_mb'])} MB",
            ]
            for r in sizes
        ],
    )
    for small, large in zip(sizes, sizes[1:]):
        ratio = {
            kind: (large[kind]["wall_seconds"] / large["images"]) / (small[kind]["wall_seconds"] / small["images"])
            for kind in ("sweep", "unfreeze")
        }
        rss = max(large["sweep"]["peak_rss_mb"]) / max(small["sweep"]["peak_rss_mb"])
        out.append(
            f"\n{large['images']:,} against {small['images']:,} images: time per image x{ratio['sweep']:.2f} (sweep), "
            f"x{ratio['unfreeze']:.2f} (unfreeze run); the sweep's peak RSS x{rss:.2f}."
        )
    return out


def _inference_cost(d: dict) -> list[str]:
    import statistics

    sweep, again = d["sweep"], d["repeatability"]
    on, off = sweep["seconds_latency_on"], sweep["seconds_latency_off"]
    measuring = sum(sweep["measure_seconds_per_run"])
    medians = again["medians_ms"]
    out = [
        f"A learning-rate sweep of {sweep['runs']} runs took {', '.join(f'{s:.1f}' for s in on)} s measuring latency "
        f"and {', '.join(f'{s:.1f}' for s in off)} s without (interleaved; identical sweeps differ by seconds here, "
        f"so the wall-time difference is not the measurement's cost alone). What measuring itself took, from the records: {', '.join(f'{s:.2f}' for s in sweep['measure_seconds_per_run'])} s "
        f"per run (the first run times the architecture, the others share its figures), {measuring:.2f} s in all: "
        f"**{measuring / statistics.mean(on):.1%}** of the sweep's time.",
        "",
        f"The same model measured {len(medians)} times afresh: median ms per image "
        f"{', '.join(f'{m:.2f}' for m in medians)}: range **{again['spread']:.1%}** of their mean, standard deviation "
        f"{statistics.stdev(medians) / statistics.mean(medians):.1%} ({again['macs'] / 1e6:.1f} MMACs, "
        f"{again['weights_mb']:.2f} MB; {again['seconds'][0]:.1f} s per measurement).",
        "",
    ]
    return out + _table(
        [
            "quantize",
            "accuracy",
            "Keras accuracy",
            "agreement",
            "largest prob. change",
            "MB",
            "model.keras MB",
            "ms (1 thread)",
            "ms (all threads)",
        ],
        [
            [
                r["quantize"],
                f"{r['accuracy']:.4f}",
                f"{r['keras_accuracy']:.4f}",
                f"{r['agreement']:.1%}",
                f"{r['max_probability_change']:.3f}",
                f"{r['size_mb']:.2f}",
                f"{r['keras_size_mb']:.2f}",
                f"{r['ms_1_thread']:.3f}",
                f"{r['ms_all_threads']:.3f}",
            ]
            for r in d["rows"]
        ],
    )


def _deploy_study(d: dict) -> list[str]:
    unfreeze = ", ".join(f"unfreeze {k}: {v:.4f}" for k, v in d.get("unfreeze", {}).items())
    return [
        f"`{d['harness_command']}`: {d['runs']} runs in {d['seconds'] / 60:.1f} min (exit status {d['exit_status']}).",
        "",
        f"Its answer: {d['answer']}.",
        "",
        f"Test accuracy frozen against fine-tuning a third of the backbone at the baseline size: {unfreeze}.",
        "",
        *_rows_table(d),
    ]


def _interval(i: dict, scale: float = 100) -> str:
    if i.get("low") is None or i["low"] != i["low"]:
        return f"{i['mean'] * scale:.1f}"
    return f"{i['mean'] * scale:.1f} [{i['low'] * scale:.1f}, {i['high'] * scale:.1f}]"


def _counts(found: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in found.items())


def _data_inspection(d: dict) -> list[str]:
    out: list[str] = []
    if d.get("folders"):
        out += ["**Copies in the shared folders**", ""]
        out += _table(
            [
                "folder",
                "val/test images with a copy in an earlier split",
                "copies inside splits",
                "pairs by bits",
                "distinct photos no nearer than",
            ],
            [
                [
                    f["folder"],
                    ", ".join(f"{k} {v} ({f['shared_exact'].get(k, 0)} exact)" for k, v in f["shared"].items())
                    or "none",
                    ", ".join(f"{k} {v}" for k, v in f["within"].items()),
                    ", ".join(f"{b}: {n}" for b, n in enumerate(f["pairs_by_bits"]) if n) or "none",
                    f"{f['nearest_other_bits']} bits",
                ]
                for f in d["folders"]
            ],
        )
    if d.get("crops"):
        within = d["crops"]["within"]
        bits = list(next(iter(within.values())))
        out += ["", f"**Crops of flowers12's photos found** ({d['crops']['photos']} photos), by threshold", ""]
        out += _table(
            ["crop a side", *(f"within {b}" for b in bits)],
            [[c, *(f"{v[b]:.0%}" for b in bits)] for c, v in within.items()],
        )
    for p in d.get("planted") or []:
        runs = {policy: [r for r in p["runs"] if r["policy"] == policy] for policy in ("warn", "drop")}
        out += [
            "",
            f"**Copies planted in {p['folder']}'s test split** ({p['planted']}): found {_counts(p['found'])}; shared before planting: {_counts(p['shared_before_planting']) or 'none'}",
            "",
        ]
        out += _table(
            ["dataset.duplicates", "test images", "test accuracy per seed", "mean"],
            [
                [
                    policy,
                    rs[0]["num_test"],
                    ", ".join(f"{r['test_accuracy']:.4f}" for r in rs),
                    f"{sum(r['test_accuracy'] for r in rs) / len(rs):.4f}",
                ]
                for policy, rs in runs.items()
                if rs
            ],
        )
        out.append(
            f"\nCopies kept minus left out, points of test accuracy (95% interval over seeds): {_interval(p['inflation'])}"
        )
    if d.get("imbalance"):
        i = d["imbalance"]
        metrics = list(next(iter(i["by_weighting"].values())))
        out += [
            "",
            f"**Imbalanced chest_xray** (train: {_counts(i['images']['train'])}; test: {_counts(i['images']['test'])}), mean [95% interval] over seeds, %",
            "",
        ]
        out += _table(
            ["metric", *(f"class_weight={w}" for w in i["by_weighting"])],
            [[m, *(_interval(s[m]) for s in i["by_weighting"].values())] for m in metrics],
        )
        out.append(
            "\nbalanced minus none, points: "
            + "; ".join(f"{m} {_interval(v)}" for m, v in i["balanced_minus_none"].items())
        )
    if d.get("cost"):
        c = d["cost"]
        out += ["", f"**Cost on {c['images']:,} images**", ""]
        out += _table(
            ["", "without fingerprints", "with fingerprints and the copy search", "added"],
            [
                [
                    "scan + image cache (best of 2)",
                    f"{c['preparation_seconds']['without']:.1f} s",
                    f"{c['preparation_seconds']['with']:.1f} s",
                    f"{c['added_fraction']:+.0%}",
                ],
                [
                    "a whole first run, one epoch (best of 2)",
                    f"{min(c['first_run_seconds']['without']):.1f} s",
                    f"{min(c['first_run_seconds']['with']):.1f} s",
                    f"{c['first_run_added_fraction']:+.0%}",
                ],
            ],
        )
    return out


def _search_compare(d: dict) -> list[str]:
    def shown(p: dict, scale: float = 100, digits: int = 1) -> str:
        if p.get("low") is None or p["low"] != p["low"]:
            return f"{p['mean'] * scale:.{digits}f}"
        return f"{p['mean'] * scale:.{digits}f} [{p['low'] * scale:.{digits}f}, {p['high'] * scale:.{digits}f}]"

    rows = []
    for label, s in d["summary"].items():
        if label == "pruning":
            continue
        rows.append(
            [
                label,
                shown(s["best_val_accuracy"]),
                shown(s["its_test_accuracy"]),
                shown(s["test_minus_random"]) if "test_minus_random" in s else "",
                shown(s["wall_seconds"], 1, 0),
            ]
        )
    out = [
        f"{d['trials']} trials of at most {d['epochs']} epochs per search; mean [95% interval] over the search seeds",
        "",
    ]
    out += _table(
        ["search", "best val accuracy, %", "its test accuracy, %", "test minus random, points", "wall, s"], rows
    )
    p = d["summary"]["pruning"]
    out.append(
        f"\nMedian pruner against TPE alone: wall time x{shown(p['wall_ratio'], 1, 2)}, epochs trained "
        f"x{shown(p['epochs_ratio'], 1, 2)}, best val accuracy {shown(p['val_difference'])} points."
    )
    return out


RENDER: dict[str, Callable[[dict], list[str]]] = {
    "search_compare": _search_compare,
    "data_inspection": _data_inspection,
    "scale": _scale,
    "scale_first_sweep": _scale_first_sweep,
    "concurrent_sweeps": _concurrent_sweeps,
    "study_speed": _study_speed,
    "sweep_speed": _sweep_speed,
    "measured": _measured,
    "gc_cost": _gc_cost,
    "shared_mount_check": _checks,
    "slurm_check": _checks,
    "postgres_check": _checks,
    "samples_per_class": _samples_per_class,
    "augment_study": _augment_study,
    "automl_vs_hyperband": _automl,
    "bad_inputs": _bad_inputs,
    "inference_cost": _inference_cost,
    "deploy_study": _deploy_study,
}


def _render(d: dict, name: str) -> list[str]:
    kind = next((k for k in sorted(RENDER, key=len, reverse=True) if name.startswith(k)), None)
    return RENDER[kind](d) if kind else _rows_table(d)


def benchmarks() -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python docs/generate.py` from `benchmarks/results/*.json` (one file per benchmark and machine): each "
        "figure with its machine, date and the command that regenerates it. Timings from different machines or hours "
        "are not comparable (see [Reproducibility](reproducibility.md)); ratios measured in one invocation are.",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        d = json.loads(path.read_text())
        machine = d.get("machine") or {}
        command = d.get("command", "")
        lines += ["", f"## {path.stem.replace('_', ' ')}", ""]
        purpose = _purpose(_script(command))
        if purpose:
            lines += [purpose, ""]
        lines += [
            f"- machine: {machine.get('cpu', 'not recorded')}, {machine.get('cpus', '?')} CPUs"
            + (f" ({machine['platform']})" if machine.get("platform") else ""),
            f"- date: {str(d.get('date') or 'not recorded')[:10]}",
            f"- command: `{command}`" if command else "- command: not recorded",
            f"- data: `benchmarks/results/{path.name}`",
            "",
        ]
        lines += _render(d, path.stem)
    return "\n".join(lines) + "\n"


PAGES = {"configuration.md": configuration, "benchmarks.md": benchmarks}


def main() -> None:
    for name, make in PAGES.items():
        (ROOT / "docs" / name).write_text(make())
        print(f"written: docs/{name}")


if __name__ == "__main__":
    main()
