"""What a built model's first output is: logits, or probabilities of which activation.

Losses, metrics and the inferer take logits by default; a model whose last layer
already applies a sigmoid or softmax (``UNetConfig(output_activation="softmax")``, a
Keras model from elsewhere) needs them told, or the activation is applied twice. The
Trainer reads it from the model with :func:`output_activation`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["output_activation"]


def output_activation(model: Any) -> str | None:
    """``"sigmoid"`` or ``"softmax"`` if the model's first output passes through one,
    ``None`` for logits (or a model whose last layer cannot be seen).

    Args:
        model: A built Keras model; only its first output is looked at.

    Example:
        >>> from unetseg.networks import UNetConfig
        >>> config = UNetConfig(spatial_dims=2, in_channels=1, out_channels=2, features=[4, 8])
        >>> output_activation(config.build())
        >>> config.output_activation = "softmax"
        >>> output_activation(config.build())
        'softmax'
    """
    outputs = getattr(model, "outputs", None)  # None or empty for a subclassed model
    if not outputs:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    layer = getattr(history, "operation", None)
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name if name in ("sigmoid", "softmax") else None
