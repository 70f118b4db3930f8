"""Soft Dice losses: :class:`Dice` and :class:`GeneralizedDice`."""

from __future__ import annotations

from typing import Any

from keras import ops

from unetseg.errors import ConfigError, check_choice
from unetseg.losses.base import LOSSES, OverlapLoss

__all__ = ["Dice", "GeneralizedDice"]


@LOSSES.register("dice")
class Dice(OverlapLoss):
    """Soft Dice loss, ``1 − (2·Σpg + smooth_nr) / (Σp + Σg + smooth_dr)``.

    The Dice is computed per sample and channel over the spatial axes (or over the
    whole batch with ``batch=True``, which is steadier when many patches hold no
    foreground) and averaged over the scored channels, optionally weighted.

    Args:
        activation: ``"sigmoid"`` for independent channels (regions such as BraTS
            WT/TC/ET, or a single binary channel), ``"softmax"`` for exclusive classes.
        from_logits: Whether ``y_pred`` holds logits (default) or probabilities.
        include_background: For softmax outputs, score channel 0 too. Default
            ``False``, as nnU-Net; it has no effect on sigmoid outputs.
        squared_pred: Use ``Σp² + Σg²`` in the denominator (Milletari's V-Net form).
        smooth_nr: Added to the numerator.
        smooth_dr: Added to the denominator. With both smoothing terms equal, an empty
            prediction of an empty target has loss 0.
        batch: Sum over the batch before dividing (one Dice per channel per batch).
        class_weights: A weight per scored channel.
        name: The loss name.
        reduction: Keras reduction of the per-sample losses.
        dtype: Keras dtype of the inputs.
        **kwargs: The options above other than ``squared_pred``, passed to the base class.

    Example:
        >>> import numpy as np
        >>> target = np.zeros((1, 4, 4, 1), "float32"); target[0, :2] = 1
        >>> perfect = np.where(target > 0, 20.0, -20.0).astype("float32")  # logits
        >>> round(float(Dice()(target, perfect)), 6)
        0.0
    """

    def __init__(self, *, squared_pred: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.squared_pred = bool(squared_pred)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        intersection, probabilities, target, axes = self._sums(y_true, y_pred)
        if self.squared_pred:
            denominator = ops.sum(ops.square(probabilities), axis=axes) + ops.sum(
                ops.square(target), axis=axes
            )
        else:
            denominator = ops.sum(probabilities, axis=axes) + ops.sum(target, axis=axes)
        dice = (2.0 * intersection + self.smooth_nr) / (denominator + self.smooth_dr)
        return self._per_sample(self._weighted_channel_mean(1.0 - dice), y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "squared_pred": self.squared_pred}


@LOSSES.register("generalized_dice")
class GeneralizedDice(OverlapLoss):
    """Generalised Dice loss (Sudre et al., 2017): channels weighted by their inverse size.

    ``1 − (2·Σ_c w_c·Σpg + smooth_nr) / (Σ_c w_c·(Σp + Σg) + smooth_dr)`` with
    ``w_c = 1 / (Σg_c)²`` (``weight_type="square"``), ``1 / Σg_c`` (``"simple"``)
    or 1 (``"uniform"``). A channel absent from the target would get an infinite
    weight; it gets the largest finite weight of the sample instead, as MONAI does.

    Args:
        weight_type: ``"square"``, ``"simple"`` or ``"uniform"``.
        **kwargs: The options of :class:`Dice` except ``squared_pred`` and
            ``class_weights`` (the weights come from the target).
    """

    def __init__(self, *, weight_type: str = "square", **kwargs: Any) -> None:
        if kwargs.get("class_weights") is not None:
            raise ConfigError(
                "GeneralizedDice computes its channel weights from the target; "
                "class_weights cannot be set."
            )
        super().__init__(**kwargs)
        self.weight_type = check_choice(
            weight_type, ("square", "simple", "uniform"), what="weight_type"
        )

    def call(self, y_true: Any, y_pred: Any) -> Any:
        intersection, probabilities, target, axes = self._sums(y_true, y_pred)
        target_sum = ops.sum(target, axis=axes)
        denominator = ops.sum(probabilities, axis=axes) + target_sum
        if self.weight_type == "uniform":
            weights = ops.ones_like(target_sum)
        else:
            power = 2.0 if self.weight_type == "square" else 1.0
            weights = 1.0 / ops.power(target_sum, power)
            finite = ops.where(ops.isinf(weights), ops.zeros_like(weights), weights)
            largest = ops.max(finite, axis=-1, keepdims=True)
            weights = ops.where(ops.isinf(weights), largest, weights)
        numerator = 2.0 * ops.sum(weights * intersection, axis=-1) + self.smooth_nr
        denominator = ops.sum(weights * denominator, axis=-1) + self.smooth_dr
        return self._per_sample(1.0 - numerator / denominator, y_pred)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "weight_type": self.weight_type}
        config.pop("class_weights")
        return config
