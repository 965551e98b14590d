"""The network input: the one place data.image_size and data.aspect_ratio become pixels."""

from __future__ import annotations

import math
from typing import NamedTuple

from omegaconf import DictConfig


class Geometry(NamedTuple):
    """The network input: height and width in pixels and how images are fitted to it."""

    height: int
    width: int
    resize_mode: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, 3


def target_hw(image_size: int, aspect_ratio: float) -> tuple[int, int]:
    """Network input (height, width): width/height = aspect_ratio at about image_size**2 pixels."""
    root = math.sqrt(aspect_ratio)
    return max(1, round(image_size / root)), max(1, round(image_size * root))


def geometry(data: DictConfig) -> Geometry:
    """The input geometry of a `data` section: the one place image_size and aspect_ratio become pixels."""
    return Geometry(*target_hw(data.image_size, data.aspect_ratio), data.resize_mode)
