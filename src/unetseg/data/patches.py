"""Training batches of random patches from the cache, as a ``keras.utils.PyDataset``.

Each sample picks a case at random and a patch centre: with probability
``foreground_ratio`` (nnU-Net uses one third) a stored foreground position, so
small tumours are seen often enough, otherwise any voxel. The patch is cut from
the memory-mapped arrays (only the patch is read from disk), padded where it
reaches outside, then passed through the augmentation. Batches are deterministic:
batch ``i`` of epoch ``e`` is drawn from the seed ``(seed, e, i)``, whatever the
number of threads; in a multi-worker run, worker ``w > 0`` draws its own batches
from ``(seed, e, i, w)`` (worker 0 draws what a single process would).
``PyDataset`` serves them on every Keras backend, with ``workers`` threads preparing
batches ahead of the training step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from unetseg.data.cache import CachedCase
from unetseg.errors import ConfigError
from unetseg.transforms.geometry import box_around, crop_box

__all__ = ["PatchDataset"]


class PatchDataset(keras.utils.PyDataset):
    """Batches ``(image, label)`` of random patches from cached cases.

    Args:
        cases: The cached cases (from :meth:`~unetseg.data.PreprocessedCache.build`).
        patch_size: The patch size per spatial axis.
        batch_size: Patches per batch.
        steps_per_epoch: Batches per epoch.
        foreground_ratio: Share of patches centred on a foreground voxel.
        augment: A transform applied to each patch record ``{"image", "label"}``
            (for example a seeded ``Compose`` of random transforms); its random
            state is reset for every sample from the batch seed.
        image_key: The cached image key.
        label_key: The cached label key.
        seed: The seed of the sampling.
        worker: The index of the worker process drawing these batches in a
            multi-worker run (the :class:`~unetseg.training.Trainer` sets it); each
            worker draws different patches.
        **kwargs: ``workers``, ``use_multiprocessing`` and ``max_queue_size`` of
            ``keras.utils.PyDataset``.
    """

    def __init__(
        self,
        cases: Sequence[CachedCase],
        patch_size: Sequence[int],
        batch_size: int = 2,
        steps_per_epoch: int = 250,
        foreground_ratio: float = 1 / 3,
        augment: Callable[[dict], dict] | None = None,
        image_key: str = "image",
        label_key: str = "label",
        seed: int = 0,
        worker: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not cases:
            raise ConfigError("PatchDataset needs at least one cached case.")
        if batch_size < 1 or steps_per_epoch < 1:
            raise ConfigError(
                f"batch_size and steps_per_epoch must be >= 1, got {batch_size} and "
                f"{steps_per_epoch}."
            )
        if not isinstance(worker, int) or worker < 0:
            raise ConfigError(f"worker must be an integer >= 0, got {worker!r}.")
        if not 0.0 <= foreground_ratio <= 1.0:
            raise ConfigError(f"foreground_ratio must be in [0, 1], got {foreground_ratio}.")
        self.cases = list(cases)
        self.patch_size = [int(s) for s in patch_size]
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.foreground_ratio = float(foreground_ratio)
        self.augment = augment
        self.image_key, self.label_key = image_key, label_key
        self.seed = seed
        self.worker = worker
        self.epoch = 0
        self._images = [case.array(image_key) for case in self.cases]
        self._labels = [case.array(label_key) for case in self.cases]
        self._foreground = [case.foreground for case in self.cases]

    def __len__(self) -> int:
        return self.steps_per_epoch

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def _sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        index = int(rng.integers(len(self.cases)))
        image, label = self._images[index], self._labels[index]
        spatial = image.shape[:-1]
        foreground = self._foreground[index]
        if len(foreground) and rng.random() < self.foreground_ratio:
            centre = foreground[int(rng.integers(len(foreground)))]
        else:
            centre = [int(rng.integers(n)) for n in spatial]
        box = box_around(centre, spatial, self.patch_size)
        return {"image": crop_box(image, box), "label": crop_box(label, box)}

    def __getitem__(self, batch_index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch(self.epoch, batch_index)

    def batch(self, epoch: int, batch_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``batch_index`` of epoch ``epoch``: the same arrays every time it is asked for."""
        key = [self.seed, int(epoch), int(batch_index)] + ([self.worker] if self.worker else [])
        rng = np.random.default_rng(key)
        # Workers prepare batches in parallel threads: each batch re-seeds its own copy
        # of the augmentation, or one thread's seeds would feed another's draws.
        augment = copy.deepcopy(self.augment)
        images, labels = [], []
        for _ in range(self.batch_size):
            sample = self._sample(rng)
            if augment is not None:
                if hasattr(augment, "set_random_state"):
                    augment.set_random_state(seed=int(rng.integers(2**31 - 1)))
                sample = augment(sample)
            images.append(np.asarray(sample["image"], dtype=np.float32))
            labels.append(np.asarray(sample["label"]))
        return np.stack(images), np.stack(labels).astype(np.float32)
