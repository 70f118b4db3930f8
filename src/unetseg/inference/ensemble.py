"""Several models predicting as one: their probabilities averaged, window by window.

The folds of a cross-validation are five models of one recipe; predicting with all of
them and averaging their probabilities is nnU-Net's default for new cases, and more
accurate than any one fold. :class:`Ensemble` is a function from a batch of windows to
the mean of the models' probabilities, so the :class:`~unetseg.inference.SlidingWindowInferer`
(with ``activation=None``) blends the averaged probabilities as it blends one model's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError
from unetseg.inference.heads import activate, device_network
from unetseg.inference.predictor import load_model
from unetseg.inference.sliding_window import SlidingWindowInferer, apply_activation
from unetseg.targets import ACTIVATIONS

__all__ = ["Ensemble"]


class Ensemble:
    """Average the probabilities of ``models`` for every batch of windows.

    Args:
        models: ``keras.Model`` objects or ``.keras`` files (of one task, one input).
        activation: The task's activation (``"sigmoid"`` or ``"softmax"``), applied to
            each model that outputs logits; a model ending in its own sigmoid or
            softmax is averaged as it is.

    Raises:
        ConfigError: For no model, an unknown activation, or models whose outputs
            differ in channels.

    Example:
        >>> import numpy as np
        >>> twice = Ensemble([lambda b: b * 2, lambda b: b * 4], "sigmoid")
        >>> float(twice(np.zeros((1, 2, 2, 1), "float32"))[0, 0, 0, 0])
        0.5
    """

    def __init__(self, models: Sequence[Any], activation: str) -> None:
        from unetseg.networks.outputs import output_activation

        if not models:
            raise ConfigError("An Ensemble needs at least one model.")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
        self.models = [load_model(m) if isinstance(m, str | os.PathLike) else m for m in models]
        self.activation = activation
        inferer = SlidingWindowInferer((1, 1))
        self._predict = [inferer.predict_function(model) for model in self.models]
        #: Per model, whether it outputs probabilities itself (no activation to apply).
        self.activated = [output_activation(model) is not None for model in self.models]
        channels = {int(m.outputs[0].shape[-1]) for m in self.models if getattr(m, "outputs", None)}
        if len(channels) > 1:
            raise ConfigError(f"The models of an Ensemble output different channels: {channels}.")

    def __len__(self) -> int:
        return len(self.models)

    def device_network(self) -> tuple[Callable[[Any], Any], list[Any]]:
        """The ensemble as a function of backend tensors and the variables it reads,
        for device blending (:func:`~unetseg.inference.heads.device_network`).

        Raises:
            ConfigError: If a member is not a ``keras.Model``.
        """
        members = [device_network(model) for model in self.models]
        activations = [None if done else self.activation for done in self.activated]

        def mean_probabilities(batch: Any) -> Any:
            total = None
            for (network, _), activation in zip(members, activations, strict=True):
                output = activate(network(batch), activation)
                total = output if total is None else total + output
            return total / len(members)

        return mean_probabilities, [v for _, variables in members for v in variables]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for predict, activated in zip(self._predict, self.activated, strict=True):
            output = np.array(predict(batch), dtype=np.float32)
            if not activated:
                output = apply_activation(output, self.activation)
            total = output if total is None else total + output
        assert total is not None
        return total / len(self.models)
