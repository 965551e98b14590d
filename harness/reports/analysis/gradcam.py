"""Grad-CAM: where in an image the predicted class's score is most sensitive."""

from __future__ import annotations

import numpy as np


def gradcam(model, images: np.ndarray, class_index: np.ndarray | int) -> np.ndarray:
    """Grad-CAM heatmaps (N, H, W) in [0, 1] for `class_index` on the model's last convolutional feature map.

    The feature map is what enters the head's global pooling layer (`pool`: the backbone's output, or the
    scratch net's last block). Channel weights are the spatially averaged gradients of the class score;
    the map is ReLU(sum of weighted channels), resized to the input size and scaled so its maximum is 1
    (all zeros where nothing is positive).
    """
    import keras
    import tensorflow as tf

    pool = model.get_layer("pool")
    features = keras.Model(model.inputs, pool.input)
    head = model.layers[model.layers.index(pool) :]
    x = tf.convert_to_tensor(images, tf.float32)
    index = tf.broadcast_to(tf.convert_to_tensor(class_index, tf.int32), [tf.shape(x)[0]])
    fmap = features(x, training=False)
    with tf.GradientTape() as tape:
        tape.watch(fmap)
        y = fmap
        for layer in head:
            y = layer(y, training=False)
        score = tf.gather(y, index, axis=1, batch_dims=1)
    grads = tape.gradient(score, fmap)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(fmap, weights.dtype), axis=-1))
    cam = tf.image.resize(cam[..., None], tf.shape(x)[1:3], method="bilinear")[..., 0]
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    return tf.clip_by_value(tf.math.divide_no_nan(cam, peak), 0.0, 1.0).numpy()


def overlay(image: np.ndarray, cam: np.ndarray, strength: float = 0.45) -> np.ndarray:
    """uint8 image with the heatmap blended in (jet colours: red where the class score is most sensitive)."""
    import matplotlib

    colours = matplotlib.colormaps["jet"](cam)[..., :3]
    blended = (1 - strength) * image.astype(float) / 255 + strength * colours
    return (np.clip(blended, 0, 1) * 255).astype(np.uint8)
