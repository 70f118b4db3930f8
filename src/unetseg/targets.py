"""Segmentation targets as Keras tensors: shape checks and one-hot conversion.

Losses and Keras metrics both accept a target in the forms users have: the
shape of the prediction (one-hot classes or independent region masks), or, for
mutually exclusive classes, integer labels. This module brings it to one form,
once, with a clear error when target and prediction do not fit.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from unetseg.errors import ConfigError, DataError

__all__ = ["ACTIVATIONS", "prepare_target", "spatial_axes"]

#: The output activations, ``"sigmoid"`` (independent channels) and ``"softmax"``
#: (exclusive classes). Losses, metrics, the inferer and tasks speak of these.
ACTIVATIONS = ("sigmoid", "softmax")


def spatial_axes(tensor: Any) -> list[int]:
    """The spatial axes of a channels-last batch: all but the first and the last.

    Args:
        tensor: A channels-last batch ``(batch, *spatial, C)``; only its ``shape`` is read.
    """
    return list(range(1, len(tensor.shape) - 1))


def prepare_target(y_true: Any, y_pred: Any, activation: str, *, owner: str) -> Any:
    """Bring ``y_true`` to the shape of ``y_pred``, checking that the two fit.

    Args:
        y_true: The target: the shape of ``y_pred`` (one-hot classes or region masks), or,
            for ``softmax``, integer labels ``(batch, *spatial)`` or ``(batch, *spatial, 1)``.
        y_pred: The prediction, channels-last ``(batch, *spatial, C)``.
        activation: The output activation, ``"sigmoid"`` or ``"softmax"`` (see
            :data:`ACTIVATIONS`); only ``softmax`` accepts integer labels.
        owner: The name of the loss or metric asking, to begin error messages with.

    Raises:
        DataError: If the shapes do not fit; the message states both shapes.
        ConfigError: For ``softmax`` over a single output channel (always 1; use
            ``sigmoid``).
    """
    pred_shape = tuple(y_pred.shape)
    true_shape = tuple(y_true.shape)
    rank = len(pred_shape)
    if rank < 3:
        raise DataError(
            f"{owner} expects predictions of shape (batch, *spatial, channels), got {pred_shape}."
        )
    channels = pred_shape[-1]
    if activation == "softmax" and channels == 1:
        raise ConfigError(
            f"{owner}: softmax over a single channel is always 1; use activation='sigmoid' "
            "for a one-channel (binary) output."
        )
    is_labels = activation == "softmax" and (
        len(true_shape) == rank - 1 or (len(true_shape) == rank and true_shape[-1] == 1 != channels)
    )
    expected = pred_shape[:-1] if is_labels else pred_shape
    compared = true_shape[: rank - 1] if is_labels else true_shape
    if len(compared) != len(expected) or any(
        a is not None and b is not None and a != b for a, b in zip(compared, expected, strict=True)
    ):
        labels_hint = (
            " or integer labels of shape (batch, *spatial[, 1])" if activation == "softmax" else ""
        )
        raise DataError(
            f"{owner}: target shape {true_shape} does not fit prediction shape {pred_shape}; "
            f"expected a target of shape {pred_shape}{labels_hint} for {activation} outputs."
        )
    if is_labels:
        labels = y_true[..., 0] if len(true_shape) == rank else y_true
        return ops.one_hot(ops.cast(labels, "int32"), channels, dtype="float32")
    return ops.cast(y_true, "float32")
