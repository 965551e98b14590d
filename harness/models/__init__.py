"""Models: a keras.applications backbone with weights, how much of it trains, and the head; or a plain conv net.

build    build_model and the pieces a run and the feature cache share (backbone_of, FrozenBackbone, InferenceMode)
cost     what a trained model costs to run: parameters, MACs per image, size, latency on this CPU
convert  the model for a device: SavedModel or TFLite (quantized), run with LiteRT's interpreter

Keras is imported by `build`, not here: a process that only checks a config never loads TensorFlow.
"""
