"""Experiment harness for transfer-learning image classifiers (TensorFlow/Keras, Hydra, Keras Tuner)."""

__version__ = "0.4.0"
