"""The analysis's pictures: a grid has a row per label with images, and names the labels without any."""

from __future__ import annotations

import numpy as np
from PIL import Image

from harness.reports.analysis.pictures import grid


def _height(path) -> int:
    with Image.open(path) as picture:
        return picture.size[1]


def test_a_label_without_images_gets_no_row_of_blanks_but_a_word_in_the_title(tmp_path):
    cell = (np.zeros((8, 8, 3)), "p=0.9")
    grid([("cat", [cell, cell]), ("dog", [cell])], "most confident wrong", tmp_path / "both.png")
    grid([("cat", [cell, cell]), ("dog", []), ("fox", [])], "most confident wrong", tmp_path / "one.png")
    assert _height(tmp_path / "one.png") < 0.75 * _height(tmp_path / "both.png")


def test_a_grid_with_no_images_at_all_is_still_written(tmp_path):
    grid([("cat", []), ("dog", [])], "most confident wrong", tmp_path / "none.png")
    assert _height(tmp_path / "none.png") > 0
