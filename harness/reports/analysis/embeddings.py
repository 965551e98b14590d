"""TensorBoard's embedding projector for an analysed split: each image's penultimate-layer vector (the input of
the classifier), a sprite of thumbnails, and a metadata table of its true class, prediction and confidence.

The vectors are a TSV the projector reads itself (`tensor_path`), so no checkpoint is written and the view
opens in the same TensorBoard as the sweep, under the run's `tb/analysis`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# The projector shows a sprite of at most 8192 x 8192 pixels: thumbnails shrink to fit the images embedded.
SPRITE_SIDE = 8192
THUMB = 64


def with_embeddings(model):
    """A model giving (penultimate-layer vectors, class probabilities) for the same inputs in one pass."""
    import keras

    classifier = next((layer for layer in model.layers if layer.name == "predictions"), model.layers[-1])
    return keras.Model(model.inputs, [classifier.input, model.output])


def sprite(images: np.ndarray) -> tuple[np.ndarray, int]:
    """The images as one square grid of equal thumbnails (row-major, the order of the metadata), and the side."""
    from PIL import Image

    per_row = int(np.ceil(np.sqrt(len(images))))
    side = max(8, min(THUMB, SPRITE_SIDE // per_row))
    sheet = np.zeros((per_row * side, per_row * side, 3), np.uint8)
    for i, image in enumerate(images):
        thumb = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize((side, side), Image.BILINEAR))
        r, c = divmod(i, per_row)
        sheet[r * side : (r + 1) * side, c * side : (c + 1) * side] = thumb
    return sheet, side


def write_projector(log_dir: Path, vectors: np.ndarray, table: pd.DataFrame, images: np.ndarray, name: str) -> None:
    """The projector's files in log_dir: vectors (TSV), metadata (TSV with a header), sprite and config."""
    from PIL import Image
    from tensorboard.plugins import projector

    log_dir.mkdir(parents=True, exist_ok=True)
    np.savetxt(log_dir / "embeddings.tsv", np.asarray(vectors, np.float32).reshape(len(vectors), -1), delimiter="\t")
    metadata = pd.DataFrame(
        {
            "true": table["true"],
            "predicted": table["predicted"],
            "correct": table["correct"].map({True: "right", False: "wrong"}),
            "probability": table["probability"].round(3),
            "id": table["id"],
        }
    )
    metadata.to_csv(log_dir / "metadata.tsv", sep="\t", index=False)
    sheet, side = sprite(images)
    Image.fromarray(sheet).save(log_dir / "sprite.png")
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = name
    embedding.tensor_path = "embeddings.tsv"
    embedding.metadata_path = "metadata.tsv"
    embedding.sprite.image_path = "sprite.png"
    embedding.sprite.single_image_dim.extend([side, side])
    projector.visualize_embeddings(str(log_dir), config)
