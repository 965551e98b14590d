"""Fingerprints: equal pixels give equal exact ones; copies of a photo land within a few bits, other photos far."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from harness.data import fingerprints
from tests.helpers import copies_of, smooth_image


def of(image) -> fingerprints.Fingerprints:
    return fingerprints.of_images([np.asarray(image.convert("RGB")) if hasattr(image, "convert") else image])


def distance(a, b) -> int:
    return int(fingerprints.distance(of(a).perceptual[0], of(b).perceptual[0]))


def test_the_exact_fingerprint_is_equal_for_equal_pixels_only():
    pixels = np.asarray(smooth_image(1)).copy()
    same = of(pixels).exact[0]
    assert of(pixels.copy()).exact[0] == same and of(tf.constant(pixels)).exact[0] == same
    pixels[5, 5, 0] ^= 1
    assert of(pixels).exact[0] != same
    assert of(pixels.reshape(64, 256, 3)).exact[0] != of(pixels.reshape(128, 128, 3)).exact[0]  # the shape counts


@pytest.mark.parametrize("kind", ["resized", "reencoded", "cropped"])
def test_a_copy_lands_within_the_default_bits_and_other_photos_do_not(kind):
    for seed in range(8):
        assert distance(copies_of(smooth_image(seed))[kind], smooth_image(seed)) <= 40
    others = [smooth_image(100 + seed) for seed in range(20)]
    assert min(distance(a, b) for i, a in enumerate(others) for b in others[i + 1 :]) > 52


def test_images_smaller_than_the_thumbnail_are_compared_exactly_only():
    tiny = of(np.zeros((8, 8, 3), np.uint8))
    assert not tiny.comparable[0] and not tiny.perceptual.any()
    assert of(smooth_image(0, size=32)).comparable[0]


def test_a_dataset_pass_and_a_scan_a_file_at_a_time_agree():
    images = np.stack([np.asarray(smooth_image(seed, size=40)) for seed in range(5)])
    found = fingerprints.of_dataset(tf.data.Dataset.from_tensor_slices(images))
    one_by_one = fingerprints.assembled([fingerprints.taken(image) for image in images])
    assert found.as_lists() == one_by_one.as_lists() == [of(image).as_lists()[0] for image in images]
    assert fingerprints.Fingerprints.from_lists(found.as_lists()).as_lists() == found.as_lists()
