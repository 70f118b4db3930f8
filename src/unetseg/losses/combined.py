"""Weighted sums of losses: :class:`Combined`, :class:`DiceCE` and :class:`DiceFocal`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from unetseg.errors import ConfigError
from unetseg.losses.base import LOSSES, build_loss, check_weights, weighted_sum
from unetseg.losses.cross_entropy import CrossEntropy, Focal
from unetseg.losses.dice import Dice

__all__ = ["Combined", "DiceCE", "DiceFocal"]

LossSpec = str | tuple[str, Mapping[str, Any]] | keras.losses.Loss


class _WeightedSum(keras.losses.Loss):
    """``Σ_i w_i · loss_i`` per sample; subclasses decide how the terms are built."""

    def __init__(
        self,
        terms: Sequence[keras.losses.Loss],
        weights: Sequence[float],
        *,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        weights = check_weights(weights, "Loss weights")
        if len(weights) != len(terms):
            raise ConfigError(f"{len(terms)} losses were given with {len(weights)} weights.")
        self.terms = list(terms)
        self.weights = weights

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return weighted_sum(self.weights, lambda i: self.terms[i].call(y_true, y_pred))


@LOSSES.register("combined")
class Combined(_WeightedSum):
    """A weighted sum of any losses, given by registry name, ``(name, kwargs)`` or instance.

    Args:
        losses: The terms: ``"dice"``, ``("tversky", {"beta": 0.7})`` or a
            ``keras.losses.Loss`` instance (its ``call`` is used, its own reduction
            is ignored: the sum is reduced once, by this loss).
        weights: One weight per term; all 1 by default.
        **kwargs: ``name`` (the loss name), ``reduction`` (Keras reduction of the
            per-sample sum) and ``dtype`` (Keras dtype of the inputs).

    Raises:
        UnknownNameError: If a name is not registered.
        ConfigError: If the weights do not match the terms.

    Example:
        >>> loss = Combined(["dice", ("focal", {"gamma": 2.0})], weights=[1.0, 0.5])
        >>> [type(term).__name__ for term in loss.terms]
        ['Dice', 'Focal']
    """

    def __init__(
        self,
        losses: Sequence[LossSpec],
        weights: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(losses, (str, keras.losses.Loss)) or not losses:
            raise ConfigError(f"Combined needs a non-empty list of losses, got {losses!r}.")
        terms = [build_loss(spec) for spec in losses]
        super().__init__(terms, weights if weights is not None else [1.0] * len(terms), **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "losses": [keras.saving.serialize_keras_object(term) for term in self.terms],
            "weights": self.weights,
        }


class _DiceAnd(_WeightedSum):
    """Dice plus a second, voxel-wise term that shares the activation options."""

    def __init__(
        self,
        second: Callable[..., keras.losses.Loss],
        lambda_dice: float,
        lambda_second: float,
        *,
        activation: str = "sigmoid",
        from_logits: bool = True,
        include_background: bool = False,
        batch: bool = False,
        squared_pred: bool = False,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        dice = Dice(
            activation=activation,
            from_logits=from_logits,
            include_background=include_background,
            batch=batch,
            squared_pred=squared_pred,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
        )
        terms = [dice, second(activation=dice.activation, from_logits=dice.from_logits)]
        super().__init__(
            terms, [lambda_dice, lambda_second], name=name, reduction=reduction, dtype=dtype
        )

    def get_config(self) -> dict[str, Any]:
        dice_config = self.terms[0].get_config()
        shared = ("activation", "from_logits", "include_background", "batch", "squared_pred")
        return {
            **super().get_config(),
            **{key: dice_config[key] for key in (*shared, "smooth_nr", "smooth_dr")},
        }


@LOSSES.register("dice_ce")
class DiceCE(_DiceAnd):
    """Dice plus cross-entropy, the nnU-Net default: ``λ_dice·Dice + λ_ce·CE``.

    The cross-entropy is binary for sigmoid outputs and categorical for softmax
    outputs, chosen from ``activation``.

    Args:
        lambda_dice: Weight of the Dice term.
        lambda_ce: Weight of the cross-entropy term.
        **kwargs: ``activation``, ``from_logits`` (shared by both terms),
            ``include_background``, ``batch``, ``squared_pred``, ``smooth_nr``,
            ``smooth_dr`` (for the Dice term, see :class:`~unetseg.losses.Dice`),
            ``name``, ``reduction``, ``dtype``.

    Example:
        >>> loss = DiceCE(activation="softmax", include_background=False)
        >>> [type(term).__name__ for term in loss.terms]
        ['Dice', 'CrossEntropy']
    """

    def __init__(self, *, lambda_dice: float = 1.0, lambda_ce: float = 1.0, **kwargs: Any) -> None:
        super().__init__(CrossEntropy, lambda_dice, lambda_ce, **kwargs)

    def get_config(self) -> dict[str, Any]:
        weights = {"lambda_dice": self.weights[0], "lambda_ce": self.weights[1]}
        return {**super().get_config(), **weights}


@LOSSES.register("dice_focal")
class DiceFocal(_DiceAnd):
    """Dice plus focal loss: ``λ_dice·Dice + λ_focal·Focal``.

    Args:
        gamma: Focal exponent.
        alpha: Focal balancing weight (see :class:`~unetseg.losses.Focal`).
        lambda_dice: Weight of the Dice term.
        lambda_focal: Weight of the focal term.
        **kwargs: As for :class:`DiceCE`.
    """

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        **kwargs: Any,
    ) -> None:
        def focal(**options: Any) -> Focal:
            return Focal(gamma=gamma, alpha=alpha, **options)

        super().__init__(focal, lambda_dice, lambda_focal, **kwargs)

    def get_config(self) -> dict[str, Any]:
        focal = self.terms[1]
        return {
            **super().get_config(),
            "gamma": focal.gamma,
            "alpha": focal.alpha,
            "lambda_dice": self.weights[0],
            "lambda_focal": self.weights[1],
        }
