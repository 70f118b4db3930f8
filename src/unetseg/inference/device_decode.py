"""Probabilities → a label map on the backend's device, as ``Task.decode`` on the host.

Device blending (:mod:`unetseg.inference.device_window`) keeps a case's probabilities
on the device; :func:`decode_labels` thresholds (regions) or takes the most probable
class there, so that only the ``uint8`` label map comes back: a twelfth of three
float32 region channels. It is :meth:`unetseg.task.Task.decode` in ``keras.ops``, and
the two are tested against each other on every backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.task import Task

__all__ = ["decode_labels"]


def decode_labels(
    probabilities: Any, task: Task, threshold: float = 0.5, *, empty: Any = None
) -> Any:
    """The ``uint8`` label map of ``probabilities``, as a backend tensor.

    Args:
        probabilities: A channels-last backend tensor ``(..., out_channels)``: the
            task's probabilities (after its activation).
        task: What the channels mean: regions are each thresholded and painted in
            channel order (later regions win), classes take the label of the most
            probable channel.
        threshold: A voxel is in a region where its probability exceeds this.
        empty: Optionally a boolean tensor of the spatial shape: where it is true, the
            label is 0 (background), as :func:`~unetseg.inference.background_outside_input`
            sets the probabilities to 0 there.

    Returns:
        A ``uint8`` tensor of the spatial shape, on the device of ``probabilities``.

    Raises:
        DataError: If the last axis is not ``task.out_channels`` long.
        ConfigError: If ``threshold`` is outside [0, 1].

    Example:
        >>> from unetseg.task import BRATS_REGIONS
        >>> probabilities = np.array([[0.9, 0.8, 0.7], [0.9, 0.2, 0.1]], np.float32)
        >>> np.asarray(decode_labels(probabilities, BRATS_REGIONS)).tolist()
        [4, 2]
    """
    import keras

    ops = keras.ops
    shape = tuple(probabilities.shape)
    if len(shape) < 2 or shape[-1] != task.out_channels:
        raise DataError(
            f"The task {task.name!r} decodes {task.out_channels} channels "
            f"({', '.join(task.channel_names)}), got a tensor of shape {shape}."
        )
    if task.kind == "classes":
        lookup = ops.convert_to_tensor(np.array([g[0] for g in task.channel_labels], np.int32))
        labels = ops.take(lookup, ops.argmax(probabilities, axis=-1))
    else:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {threshold}.")
        assert task.paint is not None
        labels = ops.zeros(shape[:-1], "int32")
        for channel, value in enumerate(task.paint):
            labels = ops.where(probabilities[..., channel] > threshold, value, labels)
    if empty is not None:
        labels = ops.where(empty, 0, labels)
    return ops.cast(labels, "uint8")
