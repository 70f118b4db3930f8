"""Sliding-window inference that keeps the image, the windows and the blend on the device.

:class:`~unetseg.inference.SlidingWindowInferer`'s NumPy path cuts the windows on the
host, sends every batch to the backend, brings every output back and blends on the
host. On a GPU that is most of a case's time: the network runs two 128³ windows of a
BraTS case in milliseconds, while each call copies tens of MiB each way and NumPy
blends the volume. :class:`DeviceWindows` does the same work with the data on the
backend's device: the (padded) image is sent once; window extraction, test-time
flips, the network, the Gaussian weighting and the accumulation, the division by the
summed weights, the crop and the final activation run there, and with
:meth:`DeviceWindows.labels` the thresholding or argmax into the task's label map too;
only the result (probabilities, or the ``uint8`` labels) comes back, once.

The steps are ``keras.ops``, so every backend runs them. Each is compiled where the
backend compiles (``jax.jit``; ``tf.function``; PyTorch runs eagerly): the network once
per batch shape and model (cached with the model, so every inferer reuses it), reading
its current weights at every call (JAX gets their values passed in, TensorFlow reads
the variables), so a network that keeps training is predicted with its current
weights; window extraction and accumulation once per window size and canvas shape:
the image is placed on a canvas rounded up to a multiple of
:data:`CANVAS_MULTIPLE` voxels per axis (the windows keep their places), so cases of
nearby sizes share the compiled steps. The accumulation is where the backends
differ: JAX is given the accumulator's buffer to update in place (donated); PyTorch
runs eagerly and adds each window in place by indexing, since
``keras.ops.slice_update`` clones the whole volume there; TensorFlow outside XLA
copies the volume at every update, which on a CPU makes this path slower than the
NumPy one (docs: Performance).

With test-time augmentation, a window's mirrored copies share a network call: each
call gets ``batch_size // flips`` whole windows with all their flips (8 in 3D, 4 in
2D) when ``batch_size`` is at least the number of flips, else ``batch_size`` of one
window's flips.

Both paths give the same result to 1e-5 (tested on every backend). Which one runs is
the inferer's ``blending`` option; by default this one when the backend sees a GPU.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.inference.device_decode import decode_labels
from unetseg.inference.heads import activate, device_network
from unetseg.task import Task

__all__ = ["CANVAS_MULTIPLE", "DeviceWindows"]

_BACKENDS = ("jax", "tensorflow", "torch")

#: The multiple the canvas size is rounded up to along each spatial axis (the number
#: of images is rounded up to a multiple of 8), so that the compiled window steps
#: serve cases of nearby sizes.
CANVAS_MULTIPLE = 32

#: Each model's compiled network, kept as long as the model lives (the compiled
#: function holds no strong reference to the model).
_NETWORKS: weakref.WeakKeyDictionary[Any, Callable[[Any], Any]] = weakref.WeakKeyDictionary()


def _compile(function: Callable[..., Any], variables: Sequence[Any] = (), donate: int = -1):
    """``function`` compiled by the running backend.

    ``variables``: Keras variables ``function`` reads; on JAX their current values are
    passed in at every call (TensorFlow reads the variables themselves), so the
    compiled program follows later weight updates. ``donate``: the index of an
    argument whose buffer JAX may reuse for the result (without ``variables``).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if not variables:
            return jax.jit(function, donate_argnums=() if donate < 0 else (donate,))

        def stateless(values: list[Any], *args: Any) -> Any:
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                return function(*args)

        jitted = jax.jit(stateless)
        return lambda *args: jitted([v.value for v in variables], *args)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True)
    return function


def compiled_network(model: Any, batch: Any) -> Callable[[Any], Any]:
    """``model``'s network compiled for the device, made once per model and cached.

    ``batch``: a batch of windows; a model without weights yet (a subclassed model
    never called) is called on it once, eagerly, to create them first, so that they are
    not created inside a compiled trace.
    """
    network = _NETWORKS.get(model)
    if network is None:
        function, variables = device_network(model)
        if not variables:  # build the model's weights outside any trace
            function(batch)
            function, variables = device_network(model)
        network = _compile(function, variables)
        _NETWORKS[model] = network
    return network


def _extract_windows(volume: Any, rows: Any, roi: tuple[int, ...], count: int) -> Any:
    """The ``count`` windows of ``volume`` starting at the rows ``(image, *start)`` of
    ``rows`` (the sizes are Python numbers: a relaxed TensorFlow trace has none)."""
    import keras

    ops = keras.ops
    size = [1, *roi, ops.shape(volume)[-1]]
    windows = [
        ops.slice(volume, [rows[k, d] for d in range(len(roi) + 1)] + [0], size)
        for k in range(count)
    ]
    return windows[0] if len(windows) == 1 else ops.concatenate(windows, axis=0)


def _accumulate_windows(
    accumulator: Any,
    outputs: Any,
    rows: Any,
    valid: Any,
    importance: Any,
    roi: tuple[int, ...],
    count: int,
) -> Any:
    """``accumulator`` with each valid window's ``outputs × importance`` added in place."""
    import keras

    ops = keras.ops
    weight = ops.reshape(valid, (-1,) + (1,) * (len(roi) + 1))
    # where, not a product: a filler window's infinite output times 0 would be NaN
    weighted = ops.where(weight > 0, outputs * importance[None], 0.0)
    size = [1, *roi, ops.shape(outputs)[-1]]
    for k in range(count):
        start = [rows[k, d] for d in range(len(roi) + 1)] + [0]
        current = ops.slice(accumulator, start, size)
        accumulator = ops.slice_update(accumulator, start, current + weighted[k : k + 1])
    return accumulator


@functools.cache
def _window_steps(backend: str, roi: tuple[int, ...], count: int) -> tuple[Callable, Callable]:
    """The compiled extraction and accumulation of ``count`` windows of ``roi`` at a
    time (per backend: the cache follows a change of backend in tests)."""
    extract = functools.partial(_extract_windows, roi=roi, count=count)
    accumulate = functools.partial(_accumulate_windows, roi=roi, count=count)
    return _compile(extract), _compile(accumulate, donate=0)


def _canvas(size: int, multiple: int) -> int:
    return max(1, math.ceil(size / multiple)) * multiple


class DeviceWindows:
    """Sliding-window inference of one model on the backend's device (module docs).

    Args:
        inferer: The :class:`~unetseg.inference.SlidingWindowInferer` whose settings
            (window, overlap, importance map, TTA, batch size, output) apply.
        model: A ``keras.Model`` or an :class:`~unetseg.inference.Ensemble` of them.

    Raises:
        ConfigError: For another kind of model, or a backend other than JAX,
            TensorFlow and PyTorch.

    Example:
        >>> import keras
        >>> from unetseg.inference import SlidingWindowInferer
        >>> inputs = keras.Input((None, None, 1))
        >>> model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
        >>> inferer = SlidingWindowInferer((8, 8), batch_size=2, blending="device")
        >>> inferer(model, np.zeros((20, 12, 1), "float32")).shape
        (20, 12, 2)
    """

    def __init__(self, inferer: Any, model: Any) -> None:
        import keras

        self.backend = keras.backend.backend()
        if self.backend not in _BACKENDS:
            raise ConfigError(
                f"Device blending runs on the JAX, TensorFlow and PyTorch backends, not "
                f"{self.backend!r}; use blending='numpy'."
            )
        device_network(model)  # refuses a model that cannot run on the device
        self.inferer = inferer
        self.model = model
        self.flips = inferer.flips
        per_call = min(len(self.flips), inferer.batch_size)
        self.flip_groups = [
            self.flips[i : i + per_call] for i in range(0, len(self.flips), per_call)
        ]
        #: How many windows each step takes (a step makes one network call per flip group).
        self.windows_per_step = max(1, inferer.batch_size // len(self.flips))
        self._importance = keras.ops.convert_to_tensor(inferer.importance[..., None])
        if self.backend == "torch":
            self._extract = self._extract_eager
            self._accumulate = self._accumulate_in_place
        else:
            self._extract, self._accumulate = _window_steps(
                self.backend, inferer.roi_size, self.windows_per_step
            )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Predict the channels-last batch of images ``(N, *spatial, C)``.

        Returns:
            ``(N, *spatial, K)`` float32 NumPy: probabilities or logits as the inferer's
            ``output`` and ``activation`` say.
        """
        return self._run(images, None)

    def labels(
        self,
        images: np.ndarray,
        task: Task,
        threshold: float = 0.5,
        *,
        background_where_empty: bool = False,
    ) -> np.ndarray:
        """The label maps of the batch of images ``(N, *spatial, C)``, decoded on the
        device (:func:`~unetseg.inference.device_decode.decode_labels`): only they
        come back.

        Args:
            images: The channels-last images.
            task: What the output channels mean; the inferer's ``activation`` is
                applied first whatever its ``output`` (it should be the task's, or
                ``None`` for a model that outputs probabilities).
            threshold: The region threshold.
            background_where_empty: Label 0 wherever every input channel is 0.

        Returns:
            ``(N, *spatial)`` ``uint8`` NumPy.
        """

        def finish(probabilities: Any, inputs: Any) -> Any:
            import keras

            ops = keras.ops
            empty = None
            if background_where_empty:
                empty = ops.logical_not(ops.any(ops.not_equal(inputs, 0), axis=-1))
            return decode_labels(probabilities, task, threshold, empty=empty)

        return self._run(images, finish)

    def _run(self, images: np.ndarray, finish: Callable[[Any, Any], Any] | None) -> np.ndarray:
        if self.backend == "torch":
            import torch

            with torch.no_grad():
                return self._predict(images, finish)
        return self._predict(images, finish)

    def _predict(self, images: np.ndarray, finish: Callable[[Any, Any], Any] | None) -> np.ndarray:
        """Blend the images' windows on the device; bring back the probabilities (or
        logits), or what ``finish(probabilities, images)`` makes of them there."""
        import keras

        ops = keras.ops
        inferer = self.inferer
        spatial = images.shape[1:-1]
        padded, padding, starts = inferer.window_plan(spatial)
        count = len(images)
        canvas = (count, *padded)
        if self.backend != "torch":  # compiled steps: shapes rounded up, few of them
            images_canvas = _canvas(count, 8) if count > 1 else 1
            canvas = (images_canvas, *(_canvas(p, CANVAS_MULTIPLE) for p in padded))
        widths = [(0, canvas[0] - count)]
        widths += [(b, c - p + a) for (b, a), c, p in zip(padding, canvas[1:], padded, strict=True)]
        volume = ops.convert_to_tensor(images)
        if any(w != (0, 0) for w in widths):
            volume = ops.pad(volume, [*widths, (0, 0)], constant_values=inferer.pad_value)
        jobs = [(index, *start) for index in range(count) for start in starts]
        per_step = self.windows_per_step
        accumulator = None
        inferer.model_calls = 0
        inferer.windows = len(jobs)
        for first in range(0, len(jobs), per_step):
            rows, valid = self._rows(jobs[first : first + per_step])
            outputs = self._outputs(self._extract(volume, rows))
            if accumulator is None:
                accumulator = ops.zeros((*canvas, outputs.shape[-1]), "float32")
            accumulator = self._accumulate(accumulator, outputs, rows, valid, self._importance)
        assert accumulator is not None
        crop = [slice(b, b + s) for (b, _), s in zip(padding, spatial, strict=True)]
        # the summed weights, as the NumPy path sums them: on the host, sent once
        weights = inferer.weight_sum(padded, starts)[tuple(crop)]
        blended = accumulator[(slice(0, count), *crop, slice(None))]
        blended = blended / ops.convert_to_tensor(weights[None, ..., None])
        if finish is not None:
            inputs = volume[(slice(0, count), *crop, slice(None))]
            result = finish(activate(blended, inferer.activation), inputs)
            return np.asarray(ops.convert_to_numpy(result))
        if inferer.output == "probabilities":
            blended = activate(blended, inferer.activation)
        return np.asarray(ops.convert_to_numpy(blended), dtype=np.float32)

    def _rows(self, jobs: list[tuple[int, ...]]) -> tuple[Any, Any]:
        """The jobs of one step, padded to ``windows_per_step`` with weightless repeats,
        as the start-index table (and validity weights) the backend's steps take."""
        import keras

        missing = self.windows_per_step - len(jobs)
        valid = np.array([1.0] * len(jobs) + [0.0] * missing, np.float32)
        table = np.array(jobs + [jobs[-1]] * missing, np.int32)
        if self.backend == "torch":
            return table.tolist(), valid.tolist()
        return keras.ops.convert_to_tensor(table), keras.ops.convert_to_tensor(valid)

    def _outputs(self, windows: Any) -> Any:
        """The network's outputs for a batch of windows, averaged over the flips."""
        import keras

        ops = keras.ops
        total = None
        count = windows.shape[0]
        for group in self.flip_groups:
            parts = [ops.flip(windows, axis=axes) if axes else windows for axes in group]
            batch = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)
            outputs = compiled_network(self.model, batch)(batch)
            self.inferer.model_calls += 1
            if tuple(outputs.shape[:-1]) != tuple(batch.shape[:-1]):
                raise DataError(
                    f"The model turned a batch of windows of shape {tuple(batch.shape)} into "
                    f"outputs of shape {tuple(outputs.shape)}; sliding-window inference needs "
                    "outputs of the window's spatial size (is roi_size a multiple of the "
                    "network's stride?)."
                )
            for position, axes in enumerate(group):
                part = outputs[position * count : (position + 1) * count]
                part = ops.flip(part, axis=axes) if axes else part
                total = part if total is None else total + part
        if len(self.flips) > 1:
            total = total / len(self.flips)
        return total

    # PyTorch runs eagerly: Python start indices, in-place addition.

    def _boxes(self, rows: list[list[int]]) -> list[tuple[Any, ...]]:
        roi = self.inferer.roi_size
        return [
            (row[0], *(slice(a, a + r) for a, r in zip(row[1:], roi, strict=True))) for row in rows
        ]

    def _extract_eager(self, volume: Any, rows: list[list[int]]) -> Any:
        import keras

        return keras.ops.stack([volume[box] for box in self._boxes(rows)])

    def _accumulate_in_place(
        self,
        accumulator: Any,
        outputs: Any,
        rows: list[list[int]],
        valid: list[float],
        importance: Any,
    ) -> Any:
        weighted = outputs * importance[None]
        for k, box in enumerate(self._boxes(rows)):
            if valid[k]:
                accumulator[box] += weighted[k]
        return accumulator
