"""Two fingerprints of every decoded image, taken where it is decoded anyway (a folder's scan) or in one pass:

exact       SHA-1 (its first 8 bytes) of the decoded pixels and their shape: equal only for the same pixels.
perceptual  a 256-bit DCT hash (pHash's method at 16x16): a 32x32 grey thumbnail's 16x16 lowest frequencies,
            each bit whether a coefficient lies above their median. Resized and re-encoded copies land within a
            few bits, a crop of 2 % a side within 40 for 9 in 10 photos (measured: docs/inspecting-data.md). The
            usual 64-bit pHash (8x8) is too coarse for look-alike domains: it put distinct chest X-rays of
            chest_xray within 4 bits of each other; at 256 bits no two of them come within 46.

An image smaller than the thumbnail (sklearn's 8x8 digits) has too little in it for the perceptual hash to tell
copies from look-alikes (at 8 of 64 bits it joined 824 of the 1797 digits), so it is compared by its exact one only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

THUMBNAIL = 32  # the perceptual hash's grid, and the smallest side it is computed for
FREQUENCIES = 16  # the lowest frequencies kept in each direction: 256 bits
WORDS = FREQUENCIES * FREQUENCIES // 64


@dataclass
class Fingerprints:
    """Per image of a pool, in its order."""

    exact: np.ndarray  # uint64
    perceptual: np.ndarray  # (images, WORDS) uint64, 0 where not comparable
    comparable: np.ndarray  # bool: large enough for the perceptual hash to mean something

    def __len__(self) -> int:
        return len(self.exact)

    def as_lists(self) -> list[list[int]]:
        """[exact, the perceptual hash's words..., comparable] per image: what a folder scan's cache entry keeps."""
        return [[int(e), *(int(w) for w in p), int(c)] for e, p, c in zip(self.exact, self.perceptual, self.comparable)]

    @classmethod
    def from_lists(cls, rows: list[list[int]]) -> Fingerprints:
        table = np.asarray(rows, dtype=np.uint64).reshape(-1, WORDS + 2)
        return cls(table[:, 0].copy(), table[:, 1:-1].copy(), table[:, -1].astype(bool))

    @classmethod
    def concatenate(cls, parts: list[Fingerprints]) -> Fingerprints:
        return cls(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in ("exact", "perceptual", "comparable"))
        )


def exact_fingerprint(pixels: np.ndarray) -> int:
    """The exact fingerprint of a decoded image: the first 8 bytes of the SHA-1 of its shape and pixels (an identity,
    not a defence against forgery; OpenSSL's SHA-1 is the fastest hash hashlib has on CPUs with SHA extensions)."""
    digest = hashlib.sha1(str(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).data)  # hashlib lets go of the GIL for the pixels: threads hash at once
    return int.from_bytes(digest.digest()[:8], "big")


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The image in grey (ITU-R 601 luma, as TensorFlow's rgb_to_grayscale) at 32x32, each pixel the mean of the
    pixels it covers (PIL's box filter, which also lets go of the GIL)."""
    from PIL import Image

    grey = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).convert("L")
    return np.asarray(grey.resize((THUMBNAIL, THUMBNAIL), Image.BOX), dtype=np.float64)


def perceptual_hashes(thumbnails: np.ndarray) -> np.ndarray:
    """The 256-bit DCT hash of each (n, 32, 32) thumbnail, as (n, WORDS) uint64."""
    from scipy.fft import dctn

    coefficients = dctn(np.asarray(thumbnails, dtype=np.float64), type=2, norm="ortho", axes=(1, 2))
    low = coefficients[:, :FREQUENCIES, :FREQUENCIES].reshape(len(thumbnails), -1)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").astype(np.uint64)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits in which perceptual hashes differ, broadcast over their leading axes."""
    return sum(np.bitwise_count(a[..., w] ^ b[..., w]).astype(np.uint16) for w in range(WORDS))


def taken(image) -> tuple[int, np.ndarray | None]:
    """What one decoded uint8 HxWx3 image (array or tensor) gives: its exact fingerprint and its thumbnail (None
    for an image too small to compare). The per-image part: a folder's scan takes it in the thread that decoded
    the file, and `assembled` hashes a chunk's thumbnails at once."""
    pixels = np.asarray(image)
    return exact_fingerprint(pixels), thumbnail(pixels) if min(pixels.shape[:2]) >= THUMBNAIL else None


def assembled(parts: list[tuple[int, np.ndarray | None]]) -> Fingerprints:
    """Fingerprints of images from what `taken` gave for each."""
    comparable = np.asarray([t is not None for _, t in parts], dtype=bool)
    perceptual = np.zeros((len(parts), WORDS), dtype=np.uint64)
    if comparable.any():
        perceptual[comparable] = perceptual_hashes(np.stack([t for _, t in parts if t is not None]))
    return Fingerprints(np.asarray([e for e, _ in parts], dtype=np.uint64), perceptual, comparable)


def of_images(images) -> Fingerprints:
    """Fingerprints of decoded uint8 HxWx3 images (arrays or tensors)."""
    return assembled([taken(image) for image in images])


def of_dataset(images) -> Fingerprints:
    """Fingerprints of a tf.data dataset of decoded images (a source without a scan: TFDS, digits)."""
    return of_images(images.as_numpy_iterator())
