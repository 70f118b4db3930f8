"""A ``tf.data`` adapter of :class:`~unetseg.data.PatchDataset` (TensorFlow is needed).

``tf.data`` prepares batches in parallel (``num_parallel_calls``) and prefetches
them while the model trains, which is the usual way to keep a GPU fed under
TensorFlow. The batches are exactly those of the ``PyDataset``: batch ``i`` of
epoch ``e`` comes from the seed ``(seed, e, i)``, in order.
"""

from __future__ import annotations

from typing import Any

from unetseg.data.patches import PatchDataset
from unetseg.errors import ConfigError
from unetseg.optional import require

__all__ = ["as_tf_dataset"]


def as_tf_dataset(
    patches: PatchDataset,
    *,
    epochs: int = 1,
    num_parallel_calls: int | None = None,
    prefetch: int | None = None,
) -> Any:
    """Serve the batches of ``patches`` for ``epochs`` epochs as a ``tf.data.Dataset``.

    Args:
        patches: The patch batches.
        epochs: How many epochs of ``len(patches)`` batches the dataset holds; pass
            the same number to ``model.fit(..., epochs=..., steps_per_epoch=len(patches))``.
        num_parallel_calls: Batches prepared at once (``None``: ``tf.data.AUTOTUNE``).
        prefetch: Batches prepared ahead (``None``: ``tf.data.AUTOTUNE``).

    Returns:
        A ``tf.data.Dataset`` of ``(image, label)`` float32 batches with static shapes.

    Raises:
        ConfigError: If ``epochs`` is not a positive integer.
        MissingDependencyError: If TensorFlow is not installed.
    """
    tf = require("tensorflow", purpose="as_tf_dataset (tf.data)")
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}.")
    steps = len(patches)
    channels_image = patches.cases[0].info["arrays"][patches.image_key]["shape"][-1]
    channels_label = patches.cases[0].info["arrays"][patches.label_key]["shape"][-1]
    batch = patches.batch_size
    image_shape = (batch, *patches.patch_size, channels_image)
    label_shape = (batch, *patches.patch_size, channels_label)

    def load(step: Any) -> tuple[Any, Any]:
        def make(value: Any) -> tuple[Any, Any]:
            return patches.batch(int(value) // steps, int(value) % steps)

        image, label = tf.numpy_function(make, [step], [tf.float32, tf.float32])
        image.set_shape(image_shape)
        label.set_shape(label_shape)
        return image, label

    autotune = tf.data.AUTOTUNE
    dataset = tf.data.Dataset.range(epochs * steps).map(
        load,
        num_parallel_calls=num_parallel_calls or autotune,
        deterministic=True,
    )
    return dataset.prefetch(prefetch or autotune)
