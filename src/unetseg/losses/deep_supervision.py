"""Deep supervision: one loss over all the heads of a multi-output U-Net."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from unetseg.errors import ConfigError, DataError
from unetseg.losses.base import LOSSES, build_loss, check_weights, weighted_sum

__all__ = ["DeepSupervision", "HeadLoss", "deep_supervision_weights", "downsample_target"]


def deep_supervision_weights(num_outputs: int) -> list[float]:
    """nnU-Net's weights for ``num_outputs`` heads, highest resolution first.

    Head ``i`` gets ``1 / 2**i``; the lowest-resolution head gets 0 (it is too
    coarse to help) when there is more than one head; the weights sum to 1.

    Args:
        num_outputs: The number of heads, at least 1.

    Example:
        >>> [round(w, 4) for w in deep_supervision_weights(4)]
        [0.5714, 0.2857, 0.1429, 0.0]
    """
    if num_outputs < 1:
        raise ConfigError(f"Deep supervision needs at least one output, got {num_outputs}.")
    weights = [1.0 / 2**i for i in range(num_outputs)]
    if num_outputs > 1:
        weights[-1] = 0.0
    total = sum(weights)
    return [w / total for w in weights]


def downsample_target(y_true: Any, spatial_shape: Sequence[int | None]) -> Any:
    """Bring a channels-last target to a coarser grid by nearest-neighbour sampling.

    Each spatial size must divide the target's by a whole factor ``f``; the voxel
    at offset ``f // 2`` of every block of ``f`` is kept, so one-hot targets stay
    one-hot and labels stay labels (nnU-Net also downsamples targets with order 0).

    Args:
        y_true: ``(N, *spatial, C)``, ``(N, *spatial, 1)`` or ``(N, *spatial)`` labels.
        spatial_shape: The spatial shape of the head.

    Raises:
        DataError: If a factor is not a whole number or a shape is unknown.
    """
    spatial_rank = len(spatial_shape)
    target_spatial = tuple(y_true.shape[1 : 1 + spatial_rank])
    if len(target_spatial) != spatial_rank:
        raise DataError(
            f"Target shape {tuple(y_true.shape)} has fewer spatial axes than a head of "
            f"spatial shape {tuple(spatial_shape)}."
        )
    index: list[slice] = [slice(None)]
    for axis, (full, head) in enumerate(zip(target_spatial, spatial_shape, strict=True)):
        if full is None or head is None:
            raise DataError(
                "Deep supervision needs static spatial shapes to downsample the target; "
                f"got target {tuple(y_true.shape)} and head spatial shape {tuple(spatial_shape)}."
            )
        if full % head:
            raise DataError(
                f"Target size {full} on spatial axis {axis} is not a whole multiple of the "
                f"head size {head} (target {tuple(y_true.shape)}, head {tuple(spatial_shape)})."
            )
        factor = full // head
        index.append(slice(factor // 2, None, factor) if factor > 1 else slice(None))
    return y_true[tuple(index)]


@LOSSES.register("head_loss")
class HeadLoss(keras.losses.Loss):
    """The loss of one deep-supervision head: the target is first brought to its grid.

    Keras compiles a multi-output model with one loss per output; this is that loss
    for a head coarser than the target. See :meth:`DeepSupervision.compile_arguments`.

    Args:
        loss: The wrapped loss: an instance, a registry name or ``(name, kwargs)``.
        name: The loss name.
        reduction: Keras reduction of the per-sample losses.
        dtype: Keras dtype of the inputs.
    """

    def __init__(
        self,
        loss: Any = "dice_ce",
        *,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.loss = build_loss(loss)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.loss.call(downsample_target(y_true, tuple(y_pred.shape[1:-1])), y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "loss": keras.saving.serialize_keras_object(self.loss)}


@LOSSES.register("deep_supervision")
class DeepSupervision(keras.losses.Loss):
    """Apply a loss to every head of a deep-supervision model and sum with weights.

    ``y_pred`` is the list of heads, highest resolution first (as unetseg's U-Net
    returns them); ``y_true`` is the full-resolution target, brought to each head's
    grid by :func:`downsample_target`. Call it directly in a custom training step;
    for ``model.compile``, which wants one loss per output, use
    :meth:`compile_arguments`.

    Args:
        loss: The loss of each head: an instance, a registry name or ``(name, kwargs)``.
        weights: One weight per head; ``None`` for nnU-Net's
            :func:`deep_supervision_weights`, chosen from the number of heads.
        name: The loss name.
        reduction: Keras reduction of the per-sample losses.
        dtype: Keras dtype of the inputs.

    Example:
        >>> loss = DeepSupervision("dice_ce", weights=[0.5, 0.3, 0.2])
        >>> type(loss.loss).__name__
        'DiceCE'
    """

    def __init__(
        self,
        loss: Any = "dice_ce",
        weights: Sequence[float] | None = None,
        *,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.loss = build_loss(loss)
        self.weights = (
            check_weights(weights, "Deep supervision weights") if weights is not None else None
        )
        self._head_loss = HeadLoss(self.loss)

    def head_weights(self, num_outputs: int) -> list[float]:
        """The weight of each of ``num_outputs`` heads (given, or nnU-Net's)."""
        weights = self.weights or deep_supervision_weights(num_outputs)
        if len(weights) != num_outputs:
            raise ConfigError(
                f"DeepSupervision has {len(weights)} weights for a model with "
                f"{num_outputs} outputs."
            )
        return list(weights)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        if not isinstance(y_pred, (list, tuple)):
            y_pred = [y_pred]
        weights = self.head_weights(len(y_pred))
        return weighted_sum(weights, lambda i: self._head_loss.call(y_true, y_pred[i]))

    def compile_arguments(self, num_outputs: int) -> dict[str, list[Any]]:
        """The ``loss`` and ``loss_weights`` for ``model.compile`` of a multi-output model.

        Keras gives each output its own target, so feed the full-resolution target
        once per head (``(x, (y,) * num_outputs)``); each head's :class:`HeadLoss`
        samples it down to the head's grid. The total Keras reports is this loss.

        Example:
            >>> arguments = DeepSupervision("dice").compile_arguments(3)
            >>> [round(w, 3) for w in arguments["loss_weights"]]
            [0.667, 0.333, 0.0]
        """
        weights = self.head_weights(num_outputs)
        return {"loss": [HeadLoss(self.loss) for _ in weights], "loss_weights": weights}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "loss": keras.saving.serialize_keras_object(self.loss),
            "weights": self.weights,
        }
