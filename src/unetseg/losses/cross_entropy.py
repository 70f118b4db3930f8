"""Cross-entropy and focal losses: :class:`CrossEntropy` and :class:`Focal`.

Binary or categorical is chosen from ``activation`` — sigmoid outputs get binary
cross-entropy per channel, softmax outputs categorical cross-entropy over the
channels — never from the number of channels. (Inferring it from the channel
count, as MONAI's ``DiceCELoss`` does, silently computes the wrong loss for a
single-channel softmax or a multi-label sigmoid output.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras import ops

from unetseg.errors import ConfigError
from unetseg.losses.base import LOSSES, SegmentationLoss
from unetseg.targets import spatial_axes

__all__ = ["CrossEntropy", "Focal"]


class _LogLikelihoodLoss(SegmentationLoss):
    """Losses built on per-voxel log-probabilities, computed stably from logits."""

    def _log_probabilities(self, y_pred: Any) -> tuple[Any, Any]:
        """Return ``(log p, log (1 − p))`` for sigmoid, ``(log p, None)`` for softmax."""
        y_pred = ops.cast(y_pred, "float32")
        if self.activation == "softmax":
            if self.from_logits:
                return ops.log_softmax(y_pred, axis=-1), None
            return ops.log(ops.clip(y_pred, 1e-7, 1.0)), None
        if self.from_logits:
            return ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
        clipped = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        return ops.log(clipped), ops.log(1.0 - clipped)

    def _voxel_mean(self, per_voxel_channel: Any) -> Any:
        """Average ``(N, *spatial, C)`` values over space, then over scored channels."""
        per_channel = ops.mean(per_voxel_channel, axis=spatial_axes(per_voxel_channel))
        return self._weighted_channel_mean(per_channel)

    def _softmax_per_voxel(self, per_voxel_channel: Any) -> Any:
        """Categorical losses sum over classes; class weights scale each class's term."""
        if self.class_weights is not None:
            channels = per_voxel_channel.shape[-1]
            if channels is not None and channels != len(self.class_weights):
                raise ConfigError(
                    f"{type(self).__name__} has {len(self.class_weights)} class_weights "
                    f"for {channels} softmax classes."
                )
            weights = ops.convert_to_tensor(self.class_weights, dtype="float32")
            per_voxel_channel = per_voxel_channel * weights
        per_voxel = ops.sum(per_voxel_channel, axis=-1)
        return ops.mean(per_voxel, axis=spatial_axes(per_voxel_channel))


@LOSSES.register("ce")
@LOSSES.register("cross_entropy")
class CrossEntropy(_LogLikelihoodLoss):
    """Binary (sigmoid) or categorical (softmax) cross-entropy, averaged over voxels.

    Sigmoid: the binary cross-entropy of every channel, averaged over voxels and
    channels. Softmax: the categorical cross-entropy over all classes (the
    background is always part of a softmax; ``include_background`` does not
    apply), averaged over voxels; ``class_weights`` then weigh the classes.

    Args:
        activation: ``"sigmoid"`` or ``"softmax"``.
        from_logits: Whether ``y_pred`` holds logits (default).
        label_smoothing: Move targets towards 0.5 (sigmoid) or ``1/C`` (softmax) by
            this fraction.
        class_weights: A weight per channel (sigmoid) or per class (softmax).
        name: The loss name.
        reduction: Keras reduction of the per-sample losses.
        dtype: Keras dtype of the inputs.
        **kwargs: The options above other than ``label_smoothing``, passed to the base
            class (``include_background`` is refused: every channel is scored).

    Example:
        >>> import numpy as np
        >>> target = np.ones((1, 2, 2, 1), "float32")
        >>> logits = np.zeros((1, 2, 2, 1), "float32")  # p = 0.5 everywhere
        >>> round(float(CrossEntropy()(target, logits)), 4)  # ln 2
        0.6931
    """

    def __init__(self, *, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        if "include_background" in kwargs:
            raise ConfigError(
                "CrossEntropy always covers every channel; include_background does not apply."
            )
        super().__init__(include_background=True, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        target = self._target(y_true, y_pred)
        log_p, log_not_p = self._log_probabilities(y_pred)
        if self.activation == "softmax":
            if self.label_smoothing:
                classes = target.shape[-1]
                target = target * (1.0 - self.label_smoothing) + self.label_smoothing / classes
            return self._softmax_per_voxel(-target * log_p)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return self._voxel_mean(-(target * log_p + (1.0 - target) * log_not_p))

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "label_smoothing": self.label_smoothing}
        config.pop("include_background")
        return config


@LOSSES.register("focal")
class Focal(_LogLikelihoodLoss):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by ``(1 − p_t)^γ``.

    Well-classified voxels (``p_t`` near 1) contribute little, so the loss focuses
    on the hard ones. ``gamma=0`` and ``alpha=None`` give :class:`CrossEntropy`.

    Args:
        gamma: The focusing exponent, >= 0.
        alpha: Balancing weight. For sigmoid outputs a number in [0, 1]: ``α`` for
            positive and ``1 − α`` for negative voxels. For softmax outputs a weight
            per class. ``None`` for no balancing.
        activation: ``"sigmoid"`` or ``"softmax"``.
        from_logits: Whether ``y_pred`` holds logits (default).
        name: The loss name.
        reduction: Keras reduction of the per-sample losses.
        dtype: Keras dtype of the inputs.
        **kwargs: ``activation``, ``from_logits``, ``name``, ``reduction`` and ``dtype``,
            passed to the base class (``include_background`` and ``class_weights`` are
            refused: ``alpha`` weighs the classes).
    """

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        for option in ("include_background", "class_weights"):
            if option in kwargs:
                raise ConfigError(f"Focal does not take {option}; use alpha to weigh classes.")
        activation = kwargs.get("activation", "sigmoid")
        if gamma < 0:
            raise ConfigError(f"gamma must be >= 0, got {gamma}.")
        if alpha is not None:
            if isinstance(alpha, (int, float)):
                if not 0.0 <= alpha <= 1.0 or str(activation).lower() == "softmax":
                    raise ConfigError(
                        "alpha must be a number in [0, 1] for sigmoid outputs or a weight "
                        f"per class for softmax outputs, got {alpha!r} with "
                        f"activation={activation!r}."
                    )
                alpha = float(alpha)
            else:
                alpha = [float(a) for a in alpha]
                if str(activation).lower() != "softmax" or min(alpha) < 0:
                    raise ConfigError(
                        "a list of alpha weights (one per class, >= 0) needs "
                        f"activation='softmax', got {alpha!r} with activation={activation!r}."
                    )
        super().__init__(include_background=True, **kwargs)
        self.gamma = float(gamma)
        self.alpha = alpha

    def call(self, y_true: Any, y_pred: Any) -> Any:
        target = self._target(y_true, y_pred)
        log_p, log_not_p = self._log_probabilities(y_pred)
        if self.activation == "softmax":
            modulation = ops.power(1.0 - ops.exp(log_p), self.gamma)
            per_class = -target * modulation * log_p
            if self.alpha is not None:
                per_class = per_class * ops.convert_to_tensor(self.alpha, dtype="float32")
            return ops.mean(ops.sum(per_class, axis=-1), axis=spatial_axes(per_class))
        # log p_t and p_t of the true class, for each channel independently.
        log_p_t = target * log_p + (1.0 - target) * log_not_p
        modulation = ops.power(1.0 - ops.exp(log_p_t), self.gamma)
        per_voxel = -modulation * log_p_t
        if self.alpha is not None:
            per_voxel = per_voxel * (target * self.alpha + (1.0 - target) * (1.0 - self.alpha))
        return self._voxel_mean(per_voxel)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}
        config.pop("include_background")
        config.pop("class_weights")
        return config
