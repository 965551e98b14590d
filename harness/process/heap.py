"""The Python heap of a process that trains: what TensorFlow's import allocated is kept out of the garbage
collector's passes.

Importing TensorFlow (which brings Keras) leaves about 400,000 Python objects that live as long as the
process. Every full collection walks all of them (about 0.2 s on 2 cores), and a run sets off several:
tracing allocates many objects and each run's clear_session collects. Frozen, they are skipped: four runs
of a study in one process spent 1.42 s in collections instead of 2.96 s, with the same losses
(benchmarks/gc_cost.py). Collection never changes a number a run computes.
"""

from __future__ import annotations

import gc


def freeze_survivors() -> None:
    """Collect once, then move every object still alive into the collector's permanent generation."""
    gc.collect()
    gc.freeze()
