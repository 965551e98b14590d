"""Paired comparisons over seeds: which knobs matter for this dataset, and whether a finding holds on it.

Every comparison is on accuracy the compared runs did not select their epoch on (test accuracy; the
validation split chose the epoch and, in the ranking, the best value), paired by seed: the runs of two
values with the same train.seed share data order, initial head weights and split, so their difference
cancels much of the seed-to-seed noise. An interval is a 95% t interval of the mean paired difference,
widened by the noise of the test images themselves: every seed is scored on the same images, so the spread
over seeds cannot show how much a difference owes to which images were drawn for test (three seeds that each
get one more of 144 images right agree perfectly and prove nothing). That term is the standard error of the
paired accuracy difference over the n shared images, at the normal quantile, added in quadrature to the t
term: from the images the runs actually disagree on where their records say which test images each got right
(McNemar's variance, paired_images_se), else at its largest for the two accuracies (the runs' errors never on
the same image: var <= ((1 - a) + (1 - b)) / n, shared_images_se), which errs on the wide side. One seed gives no interval, and fewer than MIN_SEEDS (3) give no verdict
beyond "inconclusive".

A diverged run counts at chance level (its weights are not finite, it predicts nothing); a failed or
unfinished run counts as missing, and the seeds it leaves unpaired are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.config.identity import canonical
from harness.records.record import Status, unpack_correct

CONFIDENCE = 0.95
VERDICTS = ("holds", "does not hold", "inconclusive")
# Seeds a verdict needs. With 2 the t interval has 1 degree of freedom (t = 12.7): it can exclude 0 for a
# 5-point gap that happens to repeat and not for a 35-point one that varies, so it decides nothing.
MIN_SEEDS = 3


@dataclass(frozen=True)
class Paired:
    """The mean of per-seed differences with its spread and 95% interval (low/high NaN for one pair)."""

    pairs: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def has_interval(self) -> bool:
        return self.pairs > 1 and np.isfinite(self.low)

    @property
    def decides(self) -> bool:
        """Whether the interval rests on enough seeds for a verdict (MIN_SEEDS)."""
        return self.has_interval and self.pairs >= MIN_SEEDS

    def text(self, digits: int = 3, percent: bool = False) -> str:
        if self.pairs == 0:
            return "n/a (no seed with both sides)"
        scale, unit = (100, " pts") if percent else (1, "")
        fmt = lambda v: f"{v * scale:+.{digits}f}"  # noqa: E731
        if not self.has_interval:
            return f"{fmt(self.mean)}{unit} (one seed, no interval)"
        shown = f"{fmt(self.mean)}{unit} [{fmt(self.low)}, {fmt(self.high)}]"
        return shown if self.decides else f"{shown} ({self.pairs} seeds: too few)"


def paired(differences: pd.Series | np.ndarray | list, test_se: float = 0.0) -> Paired:
    """Mean, std (ddof 1) and 95% interval of paired differences (NaNs dropped): the t interval over seeds,
    its half-width combined in quadrature with `test_se` (the standard error the shared test images add,
    shared_images_se) at the normal quantile."""
    from scipy import stats

    values = np.asarray(differences, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return Paired(0, np.nan, np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if n == 1:
        return Paired(1, mean, np.nan, np.nan, np.nan)
    std = float(values.std(ddof=1))
    seeds = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / np.sqrt(n)
    images = float(stats.norm.ppf(0.5 + CONFIDENCE / 2)) * test_se if np.isfinite(test_se) else 0.0
    half = float(np.hypot(seeds, images))
    return Paired(n, mean, std, mean - half, mean + half)


def shared_images_se(better: float, worse: float, images: float, relative: bool = False) -> float:
    """The largest standard error of the difference (or ratio - 1) of two accuracies on the same `images`."""
    if not (images and images > 0 and np.isfinite(better) and np.isfinite(worse)):
        return 0.0
    se = float(np.sqrt(max(0.0, (1 - better) + (1 - worse)) / images))
    return se / worse if relative and worse > 0 else se


def scores(table: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """One row per run of a study's table: experiment, value (canonical text), seed, the metric as scored
    (a diverged run at chance level; failed and unfinished runs NaN) and its val counterpart that picks values (the
    best val accuracy, or the val balanced accuracy for a balanced metric)."""
    status = table["status"]
    images = "num_test" if metric.startswith("test_") else "num_val"
    score = pd.to_numeric(table[metric], errors="coerce").where(status == Status.COMPLETED)
    score = score.where(status != Status.DIVERGED, pd.to_numeric(table["chance"], errors="coerce"))
    picks = "val_balanced_accuracy" if metric.endswith("balanced_accuracy") else "best_val_accuracy"
    val = pd.to_numeric(table[picks], errors="coerce").where(status.isin([Status.COMPLETED, Status.DIVERGED]))
    return pd.DataFrame(
        {
            "experiment": table["sweep"].astype(str),
            "value": table["value"].map(canonical),
            "seed": table["seed"],
            "score": score,
            "val": val,
            # the images `score` was measured on (the same for every run of a study), and which it got right
            "images": pd.to_numeric(table.get(images, pd.Series(np.nan, index=table.index)), errors="coerce"),
            "correct": _per_image(table, metric, score),
            "status": status,
        }
    )


def _per_image(table: pd.DataFrame, metric: str, score: pd.Series) -> list:
    """Each run's right/wrong per test image (a bool array), where its record has them and they are what it
    is scored on (a completed run's test accuracy); else None."""
    packed = table.get("test_correct", pd.Series(None, index=table.index))
    images = pd.to_numeric(table.get("num_test", pd.Series(np.nan, index=table.index)), errors="coerce")
    out = []
    for text, n, value in zip(packed, images, score):
        usable = metric == "test_accuracy" and isinstance(text, str) and np.isfinite(n) and np.isfinite(value)
        out.append(unpack_correct(text, int(n)) if usable else None)
    return out


def paired_images_se(rows: pd.DataFrame, better: list[Any], worse: list[Any], relative: bool = False) -> float | None:
    """The standard error the shared test images add to the mean paired difference, from the runs' own
    per-image results: per seed, the spread over images of (better's right - worse's right) / sqrt(n), each
    side averaged over its values (McNemar's variance for one value against one); then the mean over seeds,
    as every seed draws on the same images. None where any paired run lacks its per-image results."""

    def side(values: list[Any]) -> dict:
        keys = [canonical(v) for v in values]
        chosen = rows[rows["value"].isin(keys) & rows["score"].notna()]
        by_seed: dict = {}
        for seed, group in chosen.groupby("seed"):
            vectors = list(group["correct"])
            if any(v is None for v in vectors) or len({len(v) for v in vectors}) != 1:
                by_seed[seed] = None
            else:
                by_seed[seed] = np.mean(np.stack(vectors).astype(float), axis=0)
        return by_seed

    a, b = side(better), side(worse)
    seeds = sorted(set(a) & set(b))
    if not seeds or any(a[s] is None or b[s] is None or len(a[s]) != len(b[s]) for s in seeds):
        return None
    errors = []
    for s in seeds:
        difference = a[s] - b[s]
        if relative:
            difference = difference / max(b[s].mean(), 1e-9)
        errors.append(float(difference.std(ddof=0)) / np.sqrt(len(difference)))
    return float(np.mean(errors))


def _by_seed(rows: pd.DataFrame, values: list[Any]) -> pd.Series:
    """Per seed, the mean score over the given values (those it has)."""
    keys = [canonical(v) for v in values]
    chosen = rows[rows["value"].isin(keys)]
    return chosen.groupby("seed")["score"].mean()


def compare(rows: pd.DataFrame, better: list[Any], worse: list[Any], relative: bool = False) -> Paired:
    """better - worse per seed (or better / worse - 1 when relative), then paired()."""
    a, b = _by_seed(rows, better), _by_seed(rows, worse)
    a, b = a.align(b, join="inner")
    images = rows["images"].median() if "images" in rows and len(rows) else np.nan
    se = paired_images_se(rows, better, worse, relative) if "correct" in rows else None
    if se is None:  # records without per-image results: the bound
        se = shared_images_se(a.mean(), b.mean(), images, relative) if len(a) else 0.0
    if relative:
        return paired((a / b.where(b > 0) - 1).to_numpy(), se)
    return paired((a - b).to_numpy(), se)


def verdict(test: str, result: Paired, margin: float = 0.0) -> str:
    """holds / does not hold / inconclusive. `beats`: the interval of better - worse lies above 0 (holds) or
    below 0 (does not hold). `within`: the interval of better / worse - 1 lies above -margin or below it.
    Fewer than MIN_SEEDS paired seeds decide nothing."""
    if not result.decides:
        return "inconclusive"
    threshold = -margin if test == "within" else 0.0
    if result.low > threshold:
        return "holds"
    if result.high < threshold:
        return "does not hold"
    return "inconclusive"


def findings(table: pd.DataFrame, claims: list[dict], metric: str = "test_accuracy") -> pd.DataFrame:
    """Each claim of the study config judged on this table: its numbers, the paired difference and the verdict."""
    rows = scores(table, metric)
    out = []
    for claim in claims:
        own = rows[rows["experiment"] == claim["experiment"]]
        within = claim.get("test", "beats") == "within"
        result = compare(own, claim["better"], claim["worse"], relative=within)
        means = {side: _by_seed(own, claim[side]).mean() for side in ("better", "worse")}
        out.append(
            {
                "claim": claim["claim"],
                "experiment": claim["experiment"],
                "test": claim.get("test", "beats"),
                "better": ", ".join(canonical(v) for v in claim["better"]),
                "worse": ", ".join(canonical(v) for v in claim["worse"]),
                "better_mean": means["better"],
                "worse_mean": means["worse"],
                "pairs": result.pairs,
                "difference": result.mean,
                "low": result.low,
                "high": result.high,
                "shown": (
                    result.text(1, percent=True) if not within else result.text(1, percent=True).replace(" pts", "%")
                ),
                "verdict": verdict(
                    claim.get("test", "beats"), result, float(claim.get("margin", 0.0)) if within else 0.0
                ),
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "claim",
            "experiment",
            "test",
            "better",
            "worse",
            "better_mean",
            "worse_mean",
            "pairs",
            "difference",
            "low",
            "high",
            "shown",
            "verdict",
        ],
    )


def _effect(result: Paired) -> str:
    if not result.decides:
        return "unknown"
    return "clear" if result.low > 0 or result.high < 0 else "none"


def knob_ranking(table: pd.DataFrame, experiments: dict[str, dict], metric: str = "test_accuracy") -> pd.DataFrame:
    """Per experiment: the value with the best mean val accuracy (val chose it, so the test numbers are not
    biased by the choice) and the worst, each compared with the baseline's value on `metric`, paired over
    seeds. A knob `matters` when either interval excludes 0; ranked by the larger of the two effects."""
    rows = scores(table, metric)
    out = []
    for name, experiment in experiments.items():
        own = rows[rows["experiment"] == name]
        baseline = canonical(experiment["baseline"])
        by_value = own.groupby("value")["val"].mean().dropna()
        noise = own[own["value"] == baseline]["score"].std(ddof=1)
        entry = {
            "experiment": name,
            "knob": experiment["knob"],
            "baseline": baseline,
            "seeds": own["seed"].nunique(),
            "baseline_mean": own[own["value"] == baseline]["score"].mean(),
            "noise_std": noise,
        }
        if by_value.empty or baseline not in set(own["value"]):
            out.append({**entry, "verdict": "no runs to compare", "effect": np.nan})
            continue
        # A value tied with the baseline's val accuracy is the baseline: a tie claims no difference.
        best = baseline if by_value.get(baseline) == by_value.max() else by_value.idxmax()
        worst = baseline if by_value.get(baseline) == by_value.min() else by_value.idxmin()
        gain, loss = compare(own, [best], [baseline]), compare(own, [worst], [baseline])
        effects = {_effect(gain), _effect(loss)}
        seeds = max(gain.pairs, loss.pairs)
        if "clear" in effects:
            text = "matters"
        elif effects == {"unknown"}:
            text = f"inconclusive ({'one seed: no interval' if seeds < 2 else f'{seeds} seeds: too few for a verdict'})"
        else:
            text = "no clear effect at this noise level"
        entry.update(
            best=best,
            gain=gain.mean,
            gain_low=gain.low,
            gain_high=gain.high,
            gain_shown=gain.text(1, percent=True),
            worst=worst,
            loss=loss.mean,
            loss_low=loss.low,
            loss_high=loss.high,
            loss_shown=loss.text(1, percent=True),
            verdict=text,
            effect=np.nanmax([abs(gain.mean), abs(loss.mean)]),
        )
        out.append(entry)
    ranking = pd.DataFrame(out)
    if ranking.empty:
        return ranking
    ranking["matters"] = ranking["verdict"] == "matters"
    ranking = ranking.sort_values(["matters", "effect"], ascending=[False, False], kind="stable").reset_index(drop=True)
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    return ranking


def value_effects(table: pd.DataFrame, experiments: dict[str, dict], metric: str = "test_accuracy") -> pd.DataFrame:
    """Every value of every experiment against that experiment's baseline value on `metric`, paired over seeds:
    one row per (experiment, value), in the study's order, with the mean difference, its 95% interval and
    whether the interval is clear of 0 on enough seeds (what the study report's forest plot draws)."""
    rows = scores(table, metric)
    out = []
    for name, experiment in experiments.items():
        own = rows[rows["experiment"] == name]
        baseline = canonical(experiment["baseline"])
        for value in [canonical(v) for v in experiment["values"]]:
            if value == baseline:
                continue
            result = compare(own, [value], [baseline])
            out.append(
                {
                    "experiment": name,
                    "value": value,
                    "baseline": baseline,
                    "pairs": result.pairs,
                    "difference": result.mean,
                    "low": result.low,
                    "high": result.high,
                    "clear": bool(result.decides and (result.low > 0 or result.high < 0)),
                }
            )
    return pd.DataFrame(out, columns=["experiment", "value", "baseline", "pairs", "difference", "low", "high", "clear"])
