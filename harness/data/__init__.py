"""Data: a source split (tfds | folder | digits) -> carve val/test -> subset -> decode+resize (cached) -> batch -> augment.

splits        carving and subsetting, pure numpy (Pool, Split, Splits)
sources       the three sources, each reduced to a Pool
fingerprints  an exact and a perceptual fingerprint of every image, taken where it is decoded anyway
duplicates    copies of one image across and inside splits; what dataset.duplicates does with them
inspection    the data report: counts, balance, sizes, files left out, copies
images        decoded+resized images as one cached array per split
pipeline      the tf.data pipeline a model trains on
augment       augmentation policies and mixing, per image and seeded, inside tf.data
rows          a cached array's rows read from disk by index, so memory holds a batch, not the array
"""

from harness.data.pipeline import augmented, epoch_steps, pipeline, soft_labels
from harness.data.sources import load_splits
from harness.data.splits import Split, Splits

__all__ = ["Split", "Splits", "augmented", "epoch_steps", "load_splits", "pipeline", "soft_labels"]
