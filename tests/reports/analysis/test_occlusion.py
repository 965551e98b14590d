"""Occlusion sensitivity lights up the part of the image the class depends on; border shares are what they say."""

from __future__ import annotations

import numpy as np

from harness.reports.analysis.occlusion import border_area, border_share, class_scores, margins, occlusion, positions


def one_patch_model():
    """Class 0's logit rises with the brightness of the red channel in rows and columns 8..15, and nothing else."""
    import keras

    inputs = keras.Input((32, 32, 3))
    evidence = keras.layers.Lambda(lambda x: keras.ops.mean(x[:, 8:16, 8:16, :1], axis=(1, 2)) / 255.0)(inputs)
    logits = keras.layers.Lambda(lambda s: keras.ops.concatenate([20 * (s - 0.6), -20 * (s - 0.6)], axis=1))(evidence)
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def test_occlusion_on_an_image_decided_by_one_patch_lights_up_that_patch():
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    image[8:16, 8:16, 0] = 255
    maps, drops = occlusion(one_patch_model(), image[None], np.array([0]), patch=8, stride=4)
    assert maps.shape == (1, 32, 32) and maps.max() == 1.0 and drops[0] > 0.1
    inside = maps[0, 8:16, 8:16].mean()
    outside = np.delete(maps[0].reshape(-1), [r * 32 + c for r in range(4, 20) for c in range(4, 20)])
    assert inside > 0.5 and outside.max() == 0.0  # only patches touching the decisive one drop the probability
    assert np.unravel_index(maps[0].argmax(), (32, 32))[0] in range(8, 16)


def test_patch_positions_cover_every_pixel_up_to_the_edge():
    assert positions(32, 8, 8) == [0, 8, 16, 24]
    assert positions(30, 8, 8) == [0, 8, 16, 22]
    assert positions(8, 8, 3) == [0]


def test_border_share_is_one_on_the_edges_zero_in_the_centre_and_the_area_when_even():
    edges, centre, even = np.zeros((32, 32)), np.zeros((32, 32)), np.ones((32, 32))
    edges[0, :] = 1
    centre[12:20, 12:20] = 1
    shares = border_share(np.stack([edges, centre, even, np.zeros((32, 32))]))
    assert shares[:3].tolist() == [1.0, 0.0, border_area(32, 32)] and np.isnan(shares[3])
    assert border_area(32, 32) == 1 - (24 * 24) / (32 * 32)


def test_a_softmax_head_is_scored_by_its_logits_which_do_not_saturate():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(inputs))
    model.layers[-1].set_weights([np.eye(4, 3) * 40, np.zeros(3)])
    x = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.5, 0.0, 0.0]], dtype=np.float32)
    assert (model.predict(x, verbose=0)[:, 0] == 1.0).all()  # float32's softmax: no difference left
    assert margins(class_scores(model)(x), 0).tolist() == [40.0, 20.0]  # the logits still tell them apart
