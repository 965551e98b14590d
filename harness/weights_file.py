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


def mismatch(path: str | Path, backbone: str, alpha: float) -> str | None:
    """Why this file cannot be the no-top weights of `backbone` at `alpha` (None when nothing says so).
    Files in Keras 3's own `.weights.h5` layout carry no layer list and are left to Keras."""
    path = Path(path).expanduser()
    if not _is_hdf5(path):
        return "an HDF5 weights file (.h5) for keras.applications; this file is not HDF5"
    import h5py  # a Keras dependency; no TensorFlow

    try:
        with h5py.File(path, "r") as f:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs.get("layer_names", [])]
            top = [n for n in names if n in TOP_LAYERS]
            if top:
                return f"weights without the classifier top (this file has its '{top[0]}' layer: use the *_no_top.h5 file)"
            if backbone in FIRST_CONV and names:
                layer, filters_at = FIRST_CONV[backbone]
                if layer not in names:
                    return f"weights of {backbone} (this file has no '{layer}' layer: another architecture)"
                group = f[layer]
                kernel = group[group.attrs["weight_names"][0]]
                if kernel.shape[-1] != filters_at(alpha):
                    made_for = [a for a in (0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4) if filters_at(a) == kernel.shape[-1]]
                    hint = f" (it fits model.alpha={made_for[0]:g})" if made_for else ""
                    return f"weights of {backbone} at model.alpha={alpha:g}: its first layer has {kernel.shape[-1]} filters, not {filters_at(alpha)}{hint}"
    except OSError as exc:
        return f"a readable HDF5 weights file ({exc})"
    return None
