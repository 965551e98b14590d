"""The benchmarks run what they say: the study benchmark's plain-Keras side one seed of the study from the same
baseline; the launcher benchmark's sweep on each launcher; the shared-mount check's sweeps."""

from __future__ import annotations

import sys

import pytest
from omegaconf import OmegaConf

from harness.command import compose_cli
from harness.config.identity import canonical
from tests.helpers import ROOT


@pytest.fixture
def study_speed(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # the scripts import each other as scripts do
    import study_speed

    yield study_speed
    sys.modules.pop("study_speed", None)
    sys.modules.pop("sweep_speed", None)


def _value(cfg, key: str):
    if key == "model":  # the model group's option
        return "random_init" if cfg.model.get("pretrained") is False else cfg.model.kind
    return OmegaConf.select(cfg, key)


def test_the_plain_side_runs_every_experiment_value_of_one_seed_of_chapter5(study_speed):
    jobs = compose_cli(["study=chapter5", "study.seeds=1"]).configs
    plain = study_speed.plain_runs(ROOT / "conf" / "study" / "chapter5.yaml")
    ran = [(r["experiment"], canonical(r["value"])) for r in plain]
    assert len(ran) == len(set(ran)) == len(jobs)
    assert set(ran) == {(c.sweep.name, canonical(_value(c, c.sweep.knob))) for c in jobs}


def test_the_plain_sides_baseline_is_the_harnesss_default(study_speed):
    baseline = compose_cli(["study=chapter5", "study.seeds=1"]).configs[0]  # transfer_vs_scratch=transfer
    assert study_speed.BASELINE == {key: _value(baseline, key) for key in study_speed.BASELINE}


def test_the_profile_sums_each_stage_of_the_trained_runs_and_says_which_stages_older_records_did_not_time(study_speed):
    timed = {"data": 1.0, "model": 0.5, "images": 2.0, "features": 3.0, "predictions": 1.5}
    trained = {
        "cache": {"seconds": timed},
        "history": {"seconds": [4.0, 1.0, 1.0, 1.0]},  # the first epoch traced: 3 s over the others
        "wall_seconds": 20.0,
        "total_seconds": 26.0,
    }
    copied = {**trained, "copied_from": "elsewhere"}
    profile = study_speed.profile([trained, copied])
    assert (profile["trained_runs"], profile["copied_runs"]) == (1, 1)
    assert (
        profile["seconds"]
        == {**timed, "first_epoch_excess": 3.0, "steady_epochs": 4.0, "rest_of_run": 20.0 - 8.0 - 7.0, "after_run": 6.0}
        and profile["total_seconds"] == 26.0
    )
    # a run that stopped before its first epoch ended is all the rest of its run
    failed = {"cache": {"seconds": {**timed, "predictions": 0.0}}, "history": {}, "wall_seconds": 9.0}
    both = study_speed.profile([trained, failed])
    assert both["trained_runs"] == 2 and both["seconds"]["rest_of_run"] == 5.0 + (9.0 - 6.5)
    assert both["seconds"]["steady_epochs"] == 4.0 and both["seconds"]["after_run"] == 6.0
    older = {**trained, "cache": {"seconds": {"data": 1.0, "images": 2.0, "features": 3.0}}}
    seconds = study_speed.profile([older])["seconds"]
    assert seconds["model"] is seconds["predictions"] is None and seconds["rest_of_run"] == 20.0 - 6.0 - 7.0


def test_the_launcher_benchmarks_sweeps_compose_on_each_launcher(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import launcher_scaling  # noqa: F401  (the script imports)

    sweep = ["experiment=quickstart", "sweep=learning_rate", "train.verbose=0"]  # its default
    for launcher in (
        [
            "hydra/launcher=harness_ray",
            "hydra.launcher.ray.init.address=127.0.0.1:6379",
            "hydra.launcher.ray.remote.max_calls=1",
        ],
        ["hydra.launcher.n_jobs=2"],
    ):
        assert len(compose_cli([*sweep, *launcher]).configs) == 4
    sys.modules.pop("launcher_scaling", None)


def test_the_shared_mount_checks_sweeps_compose(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import shared_mount_check

    assert len(compose_cli(shared_mount_check.together_args(tmp_path)).configs) == 4
    assert len(compose_cli(shared_mount_check.node_dies_args(tmp_path)).configs) == 2
    sys.modules.pop("shared_mount_check", None)


def test_the_slurm_checks_sweeps_compose_on_the_slurm_launcher(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import slurm_check

    slurm = slurm_check.slurm_args("debug")
    assert len(compose_cli([*slurm_check.sweep_args(tmp_path), *slurm]).configs) == 2
    assert len(compose_cli([*slurm_check.cancelled_args(tmp_path), *slurm]).configs) == 2
    assert (
        len(
            compose_cli(
                [
                    *slurm_check.time_limit_args(tmp_path),
                    *slurm_check.slurm_args(None, 1),
                    "hydra.launcher.signal_delay_s=25",
                ]
            ).configs
        )
        == 1
    )
    search = compose_cli(slurm_check.search_args(tmp_path)).configs
    assert len(search) == 1 and search[0].tuner.max_trials == 4 and set(search[0].tuner.space) == {"train", "model"}
    for module in ("slurm_check", "shared_mount_check"):
        sys.modules.pop(module, None)


def test_the_scale_benchmarks_folder_has_varied_sizes_and_aspect_ratios_and_every_class_in_both_splits(
    monkeypatch, tmp_path
):
    from PIL import Image

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import scale

    try:
        assert scale.generate(tmp_path / "f", 60, 3, workers=1) > 0
        assert scale.generate(tmp_path / "f", 60, 3, workers=1) == 0.0, "made once, then reused"
        train, val = (sorted((tmp_path / "f" / split).rglob("*.jpg")) for split in ("train", "val"))
        assert (len(train), len(val)) == (48, 12)
        assert {p.parent.name for p in train} == {p.parent.name for p in val} == {"class_000", "class_001", "class_002"}
        sizes = {Image.open(p).size for p in train}
        assert len(sizes) > 20 and len({round(w / h, 1) for w, h in sizes}) > 5
        records = [
            {"cache": {"seconds": {"data": 1.0, "images": 2.0, "features": 3.0}}, "history": {"seconds": [1.0, 0.5]}},
            {"cache": {"seconds": {"data": 0.5}}, "history": {"seconds": [0.25]}},
        ]
        assert scale.stages(records) == {"data": 1.5, "images": 2.0, "features": 3.0, "epochs": 1.8}
    finally:
        sys.modules.pop("scale", None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "SIGINT during training",
        "kill -9 of a sweep's training worker",
        "record.json a FIFO",
        "a claim that is a directory",
        "a completed record without its scores",
        "export on /proc",
        "analyze compare of runs on different classes",
    ],
)
def test_the_bad_input_corpus_case_is_handled_strictly(case, monkeypatch, tmp_path):
    """A few of benchmarks/bad_inputs.py's cases, run as the corpus runs them (a fresh process, a fresh $HOME,
    empty working and temporary folders that must stay empty): faults mid-run, tampered files, the tools."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bad_inputs

    found = bad_inputs.run_case(next(c for c in bad_inputs.corpus() if c.name == case), ROOT, tmp_path)
    assert found["verdict"] == "strict", found
