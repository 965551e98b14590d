"""Models: unfreeze fractions counted in trainable weights, which BatchNorm layers learn statistics, every backbone builds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from harness.config.backbones import BACKBONES
from harness.models.build import (
    FrozenBackbone,
    InferenceMode,
    PreprocessInput,
    backbone_of,
    build_model,
    count_params,
    set_unfreeze,
)
from tests.helpers import make_cfg

SMALL = ["model.alpha=0.25", "model.weights=null", "data.image_size=32"]


def transfer(*overrides):
    cfg = make_cfg(*SMALL, *overrides)
    return build_model(cfg.model, 5, (32, 32, 3)), cfg


def backbone_layers_with_weights(backbone):
    return [layer for layer in backbone.layers if layer.weights]


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_unfreeze_fraction_trains_exactly_the_top_layers(fraction):
    model, _ = transfer(f"model.unfreeze={fraction}")
    backbone = backbone_of(model)
    layers = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    top = layers[len(layers) - int(round(fraction * len(layers))) :]
    expected = {id(w) for layer in top for w in layer.trainable_weights}
    head = {
        id(w)
        for w in model.get_layer("head_dense").trainable_weights + model.get_layer("predictions").trainable_weights
    }
    # Counted from the weights the optimizer sees, not from layer flags.
    assert {id(w) for w in model.trainable_weights} == expected | head
    assert len(backbone.trainable_weights) == len(expected)
    if fraction == 0:
        assert len(model.trainable_weights) == 4
    if fraction == 1:
        assert len(backbone.trainable_weights) == sum(len(layer.trainable_weights) for layer in layers)


def test_more_unfreezing_means_more_trainable_parameters():
    counts = [count_params(transfer(f"model.unfreeze={f}")[0])[0] for f in (0, 0.33, 0.66, 1.0)]
    assert counts == sorted(counts) and len(set(counts)) == 4


def test_unfrozen_bn_inference_keeps_batchnorm_statistics_while_fine_tuning(weights_file):
    model, cfg = transfer(f"model.weights={weights_file}", "model.unfreeze=1.0", "model.unfrozen_bn=inference")
    backbone = backbone_of(model)
    bns = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    conv = backbone.get_layer("conv1")
    before_stats = [np.array(bn.moving_mean) for bn in bns]
    before_kernel = np.array(conv.kernel)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.random.rand(16, 32, 32, 3) * 255, np.random.randint(0, 5, 16), epochs=2, verbose=0)
    assert all(np.array_equal(b, np.array(bn.moving_mean)) for b, bn in zip(before_stats, bns))
    assert not np.array_equal(before_kernel, np.array(conv.kernel)), "unfrozen layers must still train"


def test_unfrozen_bn_batch_updates_the_statistics_of_unfrozen_layers_only(weights_file):
    model, _ = transfer(f"model.weights={weights_file}", "model.unfreeze=0.5", "model.unfrozen_bn=batch")
    bns = [layer for layer in backbone_of(model).layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = [np.array(bn.moving_mean) for bn in bns]
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.random.rand(16, 32, 32, 3) * 255, np.random.randint(0, 5, 16), epochs=2, verbose=0)
    moved = [not np.array_equal(b, np.array(bn.moving_mean)) for b, bn in zip(before, bns)]
    assert moved == [bn.trainable for bn in bns] and any(moved) and not all(moved)


def test_by_default_unfrozen_batchnorm_uses_batch_statistics_with_momentum_0_9(weights_file):
    model, cfg = transfer(f"model.weights={weights_file}")
    bns = [layer for layer in backbone_of(model).layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert cfg.model.unfrozen_bn == "batch" and {bn.momentum for bn in bns} == {0.9}
    assert not any(isinstance(layer, InferenceMode) for layer in model.layers)


def test_random_init_backbone_learns_its_batchnorm_statistics():
    model, _ = transfer("model.unfreeze=1.0")
    bn = next(layer for layer in backbone_of(model).layers if isinstance(layer, keras.layers.BatchNormalization))
    before = np.array(bn.moving_mean)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.random.rand(8, 32, 32, 3) * 255, np.random.randint(0, 5, 8), verbose=0)
    assert not np.array_equal(before, np.array(bn.moving_mean))


def test_weights_file_is_loaded(weights_file):
    model, _ = transfer(f"model.weights={weights_file}")
    reference = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
    reference.load_weights(weights_file)
    assert np.array_equal(
        np.array(backbone_of(model).get_layer("conv1").kernel), np.array(reference.get_layer("conv1").kernel)
    )


def test_saved_model_round_trips_with_its_preprocessing(tmp_path, weights_file):
    model, _ = transfer(f"model.weights={weights_file}")
    x = np.random.rand(2, 32, 32, 3).astype("float32") * 255
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_model_preprocesses_raw_pixels_like_the_backbone_expects():
    layer = PreprocessInput("mobilenet")
    np.testing.assert_allclose(np.array(layer(np.array([[0.0, 127.5, 255.0]]))), [[-1.0, 0.0, 1.0]])


def test_random_init_is_the_same_architecture_from_random_weights_trained_whole():
    # The baseline's weights and unfreeze fraction are on the command line for every run of a study; the
    # random_init preset must ignore them (imagenet would need a download here), or "from scratch" would
    # silently be a pretrained model.
    transfer = build_model(make_cfg("model.alpha=0.25", "model.weights=null").model, 3, (32, 32, 3))
    cfg = make_cfg("model=random_init", "model.alpha=0.25", "model.weights=imagenet", "model.unfreeze=0.0")
    model = build_model(cfg.model, 3, (32, 32, 3))
    assert cfg.model.pretrained is False and cfg.model.name == "mobilenet_random_init"
    assert [w.shape for w in model.weights] == [w.shape for w in transfer.weights]
    backbone = backbone_of(model)
    assert all(layer.trainable for layer in backbone.layers if layer.weights)
    assert not any(isinstance(layer, InferenceMode) for layer in model.layers)  # BN learns its statistics


def test_scratch_net_depth_and_width_are_knobs():
    cfg = make_cfg("model=scratch", "model.depth=2", "model.filters=8")
    model = build_model(cfg.model, 3, (32, 32, 3))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16]
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_at_its_smallest_input_and_can_be_cut_for_caching(name):
    spec = BACKBONES[name]
    size = spec.min_size
    cfg = make_cfg(
        f"model.backbone={name}", "model.weights=null", f"model.alpha={spec.alphas[0] if spec.alphas else 1.0}"
    )
    model = build_model(cfg.model, 4, (size, size, 3))
    out = model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0)
    assert out.shape == (1, 4) and np.isclose(out.sum(), 1, atol=1e-4)
    cuts_are_single_tensors(name, backbone_of(model), size)


def cuts_are_single_tensors(name, backbone, size):
    """Frozen-prefix caching may cut the backbone at its cut points: there the two halves compose exactly."""
    from harness.training import features

    cuts = features.cut_points(backbone)
    operations = backbone.operations
    assert cuts[-1] == len(operations), "the whole backbone is always a cut"
    # A cut halfway up: the two halves composed compute exactly what the backbone computes.
    set_unfreeze(backbone, 0.5)
    cut = features.frozen_cut(backbone, inference_only=True)
    assert cut is not None and 1 < cut < len(operations)
    assert not any(getattr(op, "trainable", False) and getattr(op, "weights", None) for op in operations[1:cut]), (
        "the prefix is frozen"
    )
    boundary = operations[cut - 1].output
    prefix, rest = keras.Model(backbone.input, boundary), keras.Model(boundary, backbone.output)
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(rest(prefix(x)), backbone(x), rtol=1e-4, atol=1e-4)
    if name == "resnet50":  # residual blocks are never split: every inner cut is a block's sum or its ReLU
        inner = [operations[i - 1].name for i in cuts[:-1] if "block" in operations[i - 1].name]
        assert inner and all(n.endswith(("_add", "_out")) for n in inner), inner


def test_a_frozen_backbone_gets_its_own_trainable_flags_back():
    model, _ = transfer("model.unfreeze=0.5")
    backbone = backbone_of(model)
    before = [layer.trainable for layer in backbone.layers]
    with FrozenBackbone(backbone):
        assert count_params(model)[0] == count_params(transfer("model.unfreeze=0")[0])[0]
    assert [layer.trainable for layer in backbone.layers] == before
