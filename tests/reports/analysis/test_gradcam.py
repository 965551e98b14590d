"""Grad-CAM: a normalized map per image that follows what is in the image."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models.build import build_model
from harness.reports.analysis.gradcam import gradcam
from tests.helpers import make_cfg


def test_gradcam_is_a_normalized_map_per_image_that_follows_the_input():

    import keras

    keras.utils.set_random_seed(0)  # an untrained net: fixed weights, so the maps are the same in any test order
    cfg = make_cfg("model=scratch", "data.image_size=32")
    model = build_model(cfg.model, 3, (32, 32, 3))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    images[1, 8:16, 8:16] = 255  # a bright patch
    predicted = model.predict(images, verbose=0).argmax(-1)
    cams = gradcam(model, images, predicted)
    assert cams.shape == (3, 32, 32) and cams.min() >= 0 and cams.max() <= 1
    for cam in cams:
        assert cam.max() == pytest.approx(1.0, abs=1e-5), "the strongest evidence for the predicted class is 1"
    assert not np.allclose(cams[0], cams[1])
    shifted = gradcam(model, np.roll(images[:1], 10, axis=2), predicted[0])
    assert not np.allclose(shifted[0], cams[0]), "the map moves when the image does"
