"""Two runs, image by image (what the What-If Tool's model comparison showed): the images one run gets right and
the other wrong, their agreement table, and an exact McNemar test of whether the two differ beyond chance.

McNemar's test looks only at the images the runs disagree on: if the runs were equally good, each such image
would be A's win or B's with probability 1/2, so A's wins among the n disagreements are Binomial(n, 1/2); the
exact two-sided p-value is that binomial's. Pure functions of prediction tables, except `write_comparison`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import UserError


@dataclass(frozen=True)
class McNemar:
    """Agreement of two runs on the same images and the exact McNemar test of their disagreements."""

    images: int
    both_right: int
    only_a_right: int
    only_b_right: int
    both_wrong: int
    accuracy_a: float
    accuracy_b: float
    p_value: float

    @property
    def differ(self) -> bool:
        """Whether the two differ beyond chance at the 5% level."""
        return self.p_value < 0.05


def paired(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The two runs' predictions side by side, one row per image (columns suffixed _a and _b). The runs must
    have predicted the same images: the same split of the same data."""
    if len(a) != len(b) or set(a["id"]) != set(b["id"]):
        raise UserError(
            f"the two runs predicted different images ({len(a)} and {len(b)}): compare runs of the same data and split"
        )
    both = a.merge(b, on="id", suffixes=("_a", "_b"), validate="one_to_one")
    if not (both["true_a"] == both["true_b"]).all():
        raise UserError("the two runs label the same images differently: compare runs of the same dataset")
    return both


def mcnemar(both: pd.DataFrame) -> McNemar:
    from scipy.stats import binomtest

    right_a, right_b = both["correct_a"].to_numpy(bool), both["correct_b"].to_numpy(bool)
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    n = only_a + only_b
    return McNemar(
        images=len(both),
        both_right=int((right_a & right_b).sum()),
        only_a_right=only_a,
        only_b_right=only_b,
        both_wrong=int((~right_a & ~right_b).sum()),
        accuracy_a=float(right_a.mean()),
        accuracy_b=float(right_b.mean()),
        p_value=float(binomtest(only_a, n, 0.5).pvalue) if n else 1.0,
    )


def agreement_table(test: McNemar, a: str, b: str) -> pd.DataFrame:
    """The 2 x 2 table: rows run A right/wrong, columns run B right/wrong."""
    return pd.DataFrame(
        [[test.both_right, test.only_a_right], [test.only_b_right, test.both_wrong]],
        index=[f"{a} right", f"{a} wrong"],
        columns=[f"{b} right", f"{b} wrong"],
    )


def disagreements(both: pd.DataFrame) -> pd.DataFrame:
    """The images exactly one run gets right, the more confident wrong predictions first."""
    rows = both[both["correct_a"] != both["correct_b"]].copy()
    rows["winner"] = np.where(rows["correct_a"], "a", "b")
    rows["wrong_probability"] = np.where(rows["correct_a"], rows["probability_b"], rows["probability_a"])
    return rows.sort_values(["winner", "wrong_probability"], ascending=[True, False])


def write_comparison(
    both: pd.DataFrame, images: dict[str, np.ndarray], names: tuple[str, str], out: Path, per_row: int = 8
) -> McNemar:
    """agreement.csv, disagreements.csv, mcnemar.json and disagreements.png (a row of images each run alone
    gets right, both predictions under each) in `out`. `images`: id -> the image as run A saw it."""
    from harness.reports.analysis.pictures import grid

    a, b = names
    test = mcnemar(both)
    out.mkdir(parents=True, exist_ok=True)
    agreement_table(test, a, b).to_csv(out / "agreement.csv")
    differ = disagreements(both)
    differ.to_csv(out / "disagreements.csv", index=False)
    (out / "mcnemar.json").write_text(json.dumps({"run_a": a, "run_b": b, **asdict(test)}, indent=2))

    def cells(winner: str):
        chosen = differ[differ["winner"] == winner]
        return [
            (
                images[r.id],
                f"true: {r.true_a}\nA: {r.predicted_a} {r.probability_a:.2f}\nB: {r.predicted_b} {r.probability_b:.2f}",
            )
            for r in chosen.head(per_row).itertuples()
        ]

    rows = []
    for winner, label in (
        ("a", f"A right,\nB wrong\n({test.only_a_right})"),
        ("b", f"B right,\nA wrong\n({test.only_b_right})"),
    ):
        cell = cells(winner)
        for start in range(0, max(len(cell), 1), per_row):
            rows.append((label if start == 0 else "", cell[start : start + per_row]))
    title = (
        f"A = {a} ({test.accuracy_a:.3f}), B = {b} ({test.accuracy_b:.3f})\n"
        f"{test.images} images, {test.only_a_right + test.only_b_right} disagreements, McNemar exact p = {test.p_value:.3g}"
    )
    grid(rows, title, out / "disagreements.png", row_height=2.6, min_columns=5)
    return test
