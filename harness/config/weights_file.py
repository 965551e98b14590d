"""What a weights file for keras.applications must be, read from its HDF5 header without TensorFlow:
a wrong file is one line before the 5 s TensorFlow start-up, not a Keras error after it."""

from __future__ import annotations

from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SIGNATURE_OFFSETS = (0, 512, 1024, 2048)  # HDF5 allows a user block of these sizes before its signature
# The classifier layers of the with-top files keras.applications publishes.
TOP_LAYERS = ("conv_preds", "predictions", "probs", "fc1000", "logits")


def _divisible(value: float, divisor: int = 8) -> int:
    """keras.applications' rounding of MobileNetV2 widths."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# The first convolution's layer and its filter count at a width multiplier: tells the alpha a file was made for.
FIRST_CONV = {
    "mobilenet": ("conv1", lambda alpha: int(32 * alpha)),
    "mobilenet_v2": ("Conv1", lambda alpha: _divisible(32 * alpha)),
}


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        for offset in SIGNATURE_OFFSETS:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
    return False


def _first_conv_filters(f, backbone: str) -> tuple[int | None, str | None]:
    """(filters of the first convolution, None) or (None, why not readable). The legacy layout (`layer_names`,
    each layer's `weight_names`) names it; Keras 3's `.weights.h5` keeps layers by path, where the first kernel
    that reads an RGB input (3 x 3 x 3 x filters) is it."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs.get("layer_names", [])]
    if names:
        layer = FIRST_CONV[backbone][0]
        if layer not in names:
            return None, f"weights of {backbone} (this file has no '{layer}' layer: another architecture)"
        weight_names = f[layer].attrs.get("weight_names")
        if weight_names is None or not len(weight_names):
            return None, f"a keras.applications weights file (its layer '{layer}' lists no weight_names)"
        return f[layer][weight_names[0]].shape[-1], None
    kernels = []
    f.visititems(
        lambda name, node: kernels.append(node.shape) if getattr(node, "ndim", 0) == 4 and node.shape[2] == 3 else None
    )
    return (kernels[0][-1], None) if kernels else (None, None)


def _non_finite(f) -> str | None:
    """The first weight that holds NaN or infinity: such a file trains at chance without an error."""
    import numpy as np

    found: list[str] = []

    def visit(name, node):
        if not found and getattr(node, "dtype", None) is not None and node.dtype.kind == "f" and node.size:
            if not np.isfinite(node[()]).all():
                found.append(name)

    f.visititems(visit)
    return found[0] if found else None


def mismatch(path: str | Path, backbone: str, alpha: float) -> str | None:
    """Why this file cannot be the no-top weights of `backbone` at `alpha` (None when nothing says so), in a few
    words: a classifier top, another architecture or width, a file that is not Keras weights, non-finite values."""
    path = Path(path).expanduser()
    try:
        hdf5 = _is_hdf5(path)
    except OSError as exc:  # a device, a FIFO, a file that cannot be read
        return f"a readable weights file (reading it failed: {exc.strerror or type(exc).__name__})"
    if not hdf5:
        return "an HDF5 weights file (.h5) for keras.applications; this file is not HDF5"
    import h5py  # a Keras dependency; no TensorFlow

    try:
        with h5py.File(path, "r") as f:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs.get("layer_names", [])]
            top = [n for n in names if n in TOP_LAYERS]
            if top:
                return (
                    f"weights without the classifier top (this file has its '{top[0]}' layer: use the *_no_top.h5 file)"
                )
            if not names and "layers" not in f:
                return "a keras.applications weights file (this HDF5 file has neither layer_names nor Keras 3's layers group)"
            if backbone in FIRST_CONV:
                filters, why = _first_conv_filters(f, backbone)
                if why:
                    return why
                expected = FIRST_CONV[backbone][1](alpha)
                if filters is not None and filters != expected:
                    made_for = [
                        a for a in (0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4) if FIRST_CONV[backbone][1](a) == filters
                    ]
                    hint = f" (it fits model.alpha={made_for[0]:g})" if made_for else ""
                    return f"weights of {backbone} at model.alpha={alpha:g}: its first layer has {filters} filters, not {expected}{hint}"
            bad = _non_finite(f)
            if bad:
                return f"weights with finite values ({bad} holds NaN or infinity)"
    except (OSError, KeyError, ValueError, TypeError) as exc:
        return f"a readable keras.applications weights file ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return None
