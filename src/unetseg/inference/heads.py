"""A model as inference calls it: its first output only, as a function of tensors.

A deep-supervision network returns several outputs; inference needs the first (the
full-resolution head) and should not compute or copy the others. :func:`first_head`
cuts a functional model down to that output; :func:`device_network` turns a model (or
an :class:`~unetseg.inference.Ensemble` of models) into a function of backend tensors
for the device-resident sliding window.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from unetseg.errors import ConfigError

__all__ = ["activate", "device_network", "first_head", "first_output"]

#: Each multi-output model's first-head model, made once so that its compiled predict
#: function is reused from one image to the next; shares the model's weights.
_FIRST_HEADS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def first_head(model: Any) -> Any:
    """``model`` itself, or for a functional model with several outputs (deep
    supervision) a model with the first, made once per model and cached.

    Args:
        model: A ``keras.Model`` (or any callable, returned as it is).
    """
    import keras

    outputs = getattr(model, "outputs", None)  # None for a subclassed model
    if not outputs or len(outputs) < 2:
        return model
    head = _FIRST_HEADS.get(model)
    if head is None:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        head = keras.Model(inputs, outputs[0], name=f"{model.name}_head0")
        _FIRST_HEADS[model] = head
    return head


def first_output(result: Any) -> Any:
    """A model's first output: of a dict its first value, of a list its first item.

    Args:
        result: What a model returned: a tensor, a list or tuple, or a dict of them.

    Example:
        >>> first_output([1, 2]), first_output({"head0": 3, "head1": 4}), first_output(5)
        (1, 3, 5)
    """
    if isinstance(result, dict):
        result = next(iter(result.values()))
    if isinstance(result, (list, tuple)):
        result = result[0]
    return result


def activate(tensor: Any, activation: str | None) -> Any:
    """``tensor`` through an activation, with ``keras.ops`` (on the tensor's device).

    Args:
        tensor: A channels-last backend tensor.
        activation: ``"sigmoid"``, ``"softmax"`` (over the last axis) or ``None``
            (``tensor`` returned unchanged).
    """
    import keras

    if activation == "sigmoid":
        return keras.ops.sigmoid(tensor)
    if activation == "softmax":
        return keras.ops.softmax(tensor, axis=-1)
    return tensor


def device_network(model: Any) -> tuple[Callable[[Any], Any], list[Any]]:
    """``model`` as a function of backend tensors, and the Keras variables it reads.

    Args:
        model: A ``keras.Model`` (of a deep-supervision model only the first output is
            computed), or an object with a ``device_network()`` method returning the
            same pair (:class:`~unetseg.inference.Ensemble` of ``keras.Model`` objects).

    Returns:
        A function from a batch of windows ``(B, *roi, C)`` to the float32 outputs
        ``(B, *roi, K)``, and the variables whose values it uses.

    Raises:
        ConfigError: For anything else (a plain function or an ONNX model runs on the
            host: ``blending="numpy"``).
    """
    import keras

    if isinstance(model, keras.Model):
        head = first_head(model)
        # A weak reference: a compiled function cached per model must not keep it alive.
        head_ref = weakref.ref(head)

        def network(batch: Any) -> Any:
            return keras.ops.cast(first_output(head_ref()(batch, training=False)), "float32")

        return network, list(head.variables)
    pair = getattr(model, "device_network", None)
    if callable(pair):
        return pair()
    raise ConfigError(
        f"Device blending needs a keras.Model or an Ensemble of keras.Model objects, got "
        f"{model!r}; a function or an ONNX model runs with blending='numpy'."
    )
