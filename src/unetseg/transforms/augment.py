"""A bridge to albumentations for 2D augmentation of image/mask pairs and of volumes.

albumentations is optional (``pip install "unetseg[augment]"``). A 2D pair
``(H, W, C)`` goes through the pipeline as is; a volume ``(H, W, D, C)`` goes
through slice by slice along ``D`` in *one* call, so every slice gets the same
draw (the same flip, the same brightness change) and the stack stays coherent.
The pipeline's randomness is seeded from the transform's own random stream.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.optional import require
from unetseg.transforms.base import MapTransform, Randomizable, Transform

__all__ = ["Albumentations", "Albumentationsd"]


def _compose(pipeline: Any) -> Any:
    albumentations = require("albumentations", purpose="The Albumentations transform")
    if isinstance(pipeline, albumentations.Compose):
        return pipeline
    if isinstance(pipeline, albumentations.BasicTransform):
        return albumentations.Compose([pipeline])
    if isinstance(pipeline, Sequence):
        return albumentations.Compose(list(pipeline))
    raise ConfigError(
        f"Albumentations needs an albumentations transform, Compose or list, got {pipeline!r}."
    )


class Albumentations(Randomizable, Transform):
    """Apply an albumentations pipeline to a 2D image (and mask) or to a volume slice by slice.

    Args:
        pipeline: An ``albumentations.Compose``, a single albumentations transform or
            a list of them.

    Call it as ``transform(image)`` or ``transform(image, mask)``; it returns the
    image, or ``(image, mask)``.

    Raises:
        MissingDependencyError: If albumentations is not installed (names the extra).
        DataError: If image and mask do not share a spatial shape.

    Example:
        >>> import albumentations as A
        >>> flip = Albumentations(A.HorizontalFlip(p=1.0))
        >>> image = np.arange(6, dtype="float32").reshape(1, 3, 2)  # (H, W, C)
        >>> flip(image)[0, :, 0].tolist()
        [4.0, 2.0, 0.0]
    """

    def __init__(self, pipeline: Any) -> None:
        super().__init__()
        self.pipeline = _compose(pipeline)

    def __call__(self, image: Any, mask: Any = None) -> Any:
        image = np.asarray(image)
        if image.ndim not in (3, 4):
            raise DataError(
                f"Albumentations expects (H, W, C) or (H, W, D, C), got shape {image.shape}."
            )
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape[: image.ndim - 1] != image.shape[:-1]:
                raise DataError(
                    f"Albumentations: mask shape {mask.shape} does not fit image shape "
                    f"{image.shape}."
                )
        self.pipeline.set_random_seed(int(self.rng.integers(2**31 - 1)))
        if image.ndim == 3:
            arguments = {"image": image} if mask is None else {"image": image, "mask": mask}
            result = self.pipeline(**arguments)
            return result["image"] if mask is None else (result["image"], result["mask"])
        arguments = {"images": np.ascontiguousarray(np.moveaxis(image, 2, 0))}
        if mask is not None:
            arguments["masks"] = np.ascontiguousarray(np.moveaxis(mask, 2, 0))
        result = self.pipeline(**arguments)
        volume = np.moveaxis(np.asarray(result["images"]), 0, 2)
        if mask is None:
            return volume
        return volume, np.moveaxis(np.asarray(result["masks"]), 0, 2)


class Albumentationsd(Randomizable, MapTransform):
    """Dictionary form of :class:`Albumentations` for one image key and an optional mask key.

    Args:
        keys: The image key and, optionally, the mask key.
        pipeline: The albumentations pipeline.
        mask_key: Which of ``keys`` is the mask (label); spatial transforms move it
            with the image and pixel-level ones leave it alone.
        allow_missing_keys: Skip a missing mask key.
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        pipeline: Any,
        mask_key: Hashable | None = "label",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        Randomizable.__init__(self)
        images = [key for key in self.keys if key != mask_key]
        if len(images) != 1:
            raise ConfigError(
                f"Albumentationsd takes one image key and an optional mask key; got keys "
                f"{self.keys} with mask_key={mask_key!r}."
            )
        self.image_key, self.mask_key = images[0], mask_key
        self.transform = Albumentations(pipeline)
        self.transform.set_random_state(rng=self.rng)

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> Albumentationsd:
        super().set_random_state(seed, rng)
        self.transform.set_random_state(rng=self.rng)
        return self

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        present = list(self.key_iterator(result))
        if self.image_key not in present:
            return result
        if self.mask_key in present:
            result[self.image_key], result[self.mask_key] = self.transform(
                result[self.image_key], result[self.mask_key]
            )
        else:
            result[self.image_key] = self.transform(result[self.image_key])
        return result
