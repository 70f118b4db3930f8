"""Tversky losses: :class:`Tversky` and :class:`FocalTversky`."""

from __future__ import annotations

from typing import Any

from keras import ops

from unetseg.errors import ConfigError
from unetseg.losses.base import LOSSES
from unetseg.losses.dice import OverlapLoss

__all__ = ["FocalTversky", "Tversky"]


@LOSSES.register("tversky")
class Tversky(OverlapLoss):
    """Tversky loss (Salehi et al., 2017), a Dice with separate weights for FP and FN.

    ``TI = (TP + smooth_nr) / (TP + α·FP + β·FN + smooth_dr)`` with soft counts
    ``TP = Σpg``, ``FP = Σp(1−g)``, ``FN = Σ(1−p)g``; the loss is ``1 − TI``.
    ``α = β = 0.5`` is the soft Dice; ``β > α`` penalises missed voxels more, which
    favours recall on small structures.

    Args:
        alpha: Weight of false positives.
        beta: Weight of false negatives.
        **kwargs: ``activation``, ``from_logits``, ``include_background``,
            ``smooth_nr``, ``smooth_dr``, ``batch``, ``class_weights`` as for
            :class:`~unetseg.losses.Dice`.
    """

    def __init__(self, *, alpha: float = 0.5, beta: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if alpha < 0 or beta < 0 or alpha + beta == 0:
            raise ConfigError(
                f"alpha and beta must be >= 0 and not both 0, got alpha={alpha}, beta={beta}."
            )
        self.alpha = float(alpha)
        self.beta = float(beta)

    def _tversky_index(self, y_true: Any, y_pred: Any) -> Any:
        true_positive, probabilities, target, axes = self._sums(y_true, y_pred)
        false_positive = ops.sum(probabilities, axis=axes) - true_positive
        false_negative = ops.sum(target, axis=axes) - true_positive
        denominator = true_positive + self.alpha * false_positive + self.beta * false_negative
        return (true_positive + self.smooth_nr) / (denominator + self.smooth_dr)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        loss = 1.0 - self._tversky_index(y_true, y_pred)
        return self._per_sample(self._weighted_channel_mean(loss), y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@LOSSES.register("focal_tversky")
class FocalTversky(Tversky):
    """Focal Tversky loss (Abraham and Khan, 2019): ``(1 − TI)^γ`` per channel.

    With ``γ < 1`` the loss keeps pushing on channels that are already fairly good
    (``γ = 0.75`` is the paper's 1/γ with γ = 4/3); ``γ = 1`` is the Tversky loss.
    The defaults ``alpha=0.3, beta=0.7`` are the paper's.

    Args:
        gamma: The exponent, > 0.
        alpha: Weight of false positives.
        beta: Weight of false negatives.
        **kwargs: As for :class:`Tversky`.
    """

    def __init__(
        self, *, gamma: float = 0.75, alpha: float = 0.3, beta: float = 0.7, **kwargs: Any
    ) -> None:
        super().__init__(alpha=alpha, beta=beta, **kwargs)
        if gamma <= 0:
            raise ConfigError(f"gamma must be > 0, got {gamma}.")
        self.gamma = float(gamma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        loss = 1.0 - self._tversky_index(y_true, y_pred)
        # A floor keeps the fractional power's gradient finite at a perfect prediction.
        loss = ops.power(ops.maximum(loss, 1e-7), self.gamma)
        return self._per_sample(self._weighted_channel_mean(loss), y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gamma": self.gamma}
