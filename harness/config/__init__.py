"""Configuration: the typed config and everything checked before TensorFlow starts.

schema        one dataclass per config group, in Hydra's ConfigStore: every knob's type, default, doc and range
validate      ranges read from the schema, rules across keys, datasets and weights files; ConfigError with one line
presets       a user's --config-dir presets read as data: values, group options and hydra.mode, nothing more
geometry      the network input: where data.image_size and data.aspect_ratio become pixels
identity      a run's identity (the hash of its config) and values as text that compare equal
naming        what an experiment folder and a run folder are called
space         a Keras Tuner search space as plain data, checked and declared
backbones     the keras.applications backbones, as data
folders       what an image-folder dataset looks like (no decoding)
weights_file  a weights file checked from its HDF5 header
reachable     a TFDS dataset and ImageNet weights available offline, or the network to fetch them
"""

from harness.config.geometry import geometry
from harness.config.identity import config_hash
from harness.config.schema import CONF_DIR, Config
from harness.config.validate import validate

__all__ = ["CONF_DIR", "Config", "config_hash", "geometry", "validate"]
