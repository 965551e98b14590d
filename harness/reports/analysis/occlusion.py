"""Occlusion sensitivity: how much a class's margin drops when a grey patch hides each part of the image, and how
much of any explanation falls on the image's border.

Unlike Grad-CAM, which reads gradients at the last feature map (coarse: 4x4 for MobileNet at 128 px), occlusion
asks the model itself, patch by patch: every occluded copy of an image is predicted, all of an image's copies in
one batch. It costs one prediction per patch position and image, so it is run on the images the analysis shows.
"""

from __future__ import annotations

import numpy as np

GREY = 128  # what hides a patch: mid-grey in the raw 0..255 pixels the saved model takes
BORDER = 0.125  # the border band: this fraction of the height and of the width on each side (44 % of the area)


def positions(size: int, patch: int, stride: int) -> list[int]:
    """Patch starts along one side: every `stride` pixels, the last flush with the edge so every pixel is covered."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def class_scores(model):
    """Images -> float64 score per class whose differences are the model's margins: its logits where the model ends in
    a softmax Dense layer (the harness's head), else its log-probabilities. Not probabilities: a float32 softmax
    rounds a confident image's probability to exactly 1, and even its log-probability moves exponentially little
    (a daisy at p = 0.999993 went to 0.9974 with its centre hidden), where the margin moves as the evidence does."""
    import keras

    from harness.training.fit import class_probabilities

    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        features = keras.Model(model.inputs, last.input)
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in last.get_weights())
        return lambda images: np.asarray(features.predict(images, batch_size=64, verbose=0), np.float64) @ kernel + bias
    return lambda images: np.log(
        np.clip(class_probabilities(model.predict(images, batch_size=64, verbose=0)), 1e-300, 1)
    )


def margins(scores: np.ndarray, class_index: int) -> np.ndarray:
    """How far each row's score for the class is above its best other class's (negative: another class wins)."""
    others = np.delete(scores, class_index, axis=1)
    return scores[:, class_index] - (others.max(axis=1) if others.shape[1] else 0.0)


def occlusion(
    model, images: np.ndarray, class_index: np.ndarray, patch: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """((N, H, W) maps in [0, 1], (N,) largest drops): at each pixel, the mean drop in the class's margin (its
    logit over the best other class's, class_scores) over the patches that hid it (no drop: 0), scaled so each
    map's largest is 1 (all zeros where nothing drops), and that largest mean drop itself, in logits. A map whose
    largest drop is small next to the image's margin is noise scaled up."""
    n, h, w = images.shape[:3]
    scores = class_scores(model)
    spots = [(y, x) for y in positions(h, patch, stride) for x in positions(w, patch, stride)]
    covered = np.zeros((h, w))
    for y, x in spots:
        covered[y : y + patch, x : x + patch] += 1
    maps = np.zeros((n, h, w))
    for i in range(n):
        hidden = np.repeat(images[i][None].astype(np.float32), len(spots) + 1, axis=0)
        for k, (y, x) in enumerate(spots, start=1):  # copy 0 stays whole: the margin without occlusion
            hidden[k, y : y + patch, x : x + patch] = GREY
        margin = margins(scores(hidden), int(class_index[i]))
        drop = np.maximum(margin[0] - margin[1:], 0.0)
        for d, (y, x) in zip(drop, spots):
            maps[i, y : y + patch, x : x + patch] += d
        maps[i] /= covered
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0), peak.reshape(-1)


def border_band(h: int, w: int) -> tuple[int, int]:
    return max(1, round(h * BORDER)), max(1, round(w * BORDER))


def border_area(h: int, w: int) -> float:
    """The share of an image's pixels in its border band: what a map spread evenly puts there."""
    by, bx = border_band(h, w)
    return 1 - (h - 2 * by) * (w - 2 * bx) / (h * w)


def border_share(maps: np.ndarray) -> np.ndarray:
    """Per map, the share of its mass on the border band (NaN for an empty map). Well above border_area: the
    explanation sits at the edges, where backgrounds usually are, not on a centred object."""
    h, w = maps.shape[1:]
    by, bx = border_band(h, w)
    total = maps.sum(axis=(1, 2))
    inner = maps[:, by : h - by, bx : w - bx].sum(axis=(1, 2))
    return np.where(total > 0, 1 - inner / np.where(total > 0, total, 1), np.nan)
