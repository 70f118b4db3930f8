"""Sliding-window inference: a network trained on patches, applied to a whole volume.

The image is covered by windows of the training patch size that overlap by
``overlap`` of their size (nnU-Net's step computation: the fewest windows whose
step is at most ``roi * (1 - overlap)``, spread evenly so the last one ends at the
border). Windows go through the model ``batch_size`` at a time, always in batches
of the same shape, so a compiled predict function is traced once. Each window's
output is weighted by a Gaussian importance map (σ = window / 8, as nnU-Net), which
trusts a window's centre more than its border where context was missing, and the
weighted sum is divided by the sum of weights. An image smaller than the window is
padded and the result cropped back.

With ``tta=True`` every window is also predicted mirrored along every combination of
spatial axes (8 for 3D, 4 for 2D) and the un-mirrored outputs are averaged.

Outputs are blended as the model returns them: logits are blended as logits (nnU-Net
v2 does the same) and turned into probabilities once, at the end, when asked.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError, check_choice
from unetseg.inference.heads import device_network, first_head, first_output
from unetseg.inference.postprocess import background_outside_input
from unetseg.task import Task, resolve_task

__all__ = [
    "BLENDINGS",
    "SlidingWindowInferer",
    "apply_activation",
    "gaussian_importance_map",
    "sliding_window_inference",
    "window_starts",
]

_MODES = ("gaussian", "constant")
#: Where windows are cut and blended (``SlidingWindowInferer``'s ``blending``).
BLENDINGS = ("auto", "numpy", "device")
_OUTPUTS = ("probabilities", "logits")
_ACTIVATIONS = ("sigmoid", "softmax", None)


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Start positions of the windows along one axis of ``size`` voxels.

    Args:
        size: The length of the axis (at least ``roi``: pad first).
        roi: The window length.
        overlap: The wanted overlap of neighbouring windows, as a share of ``roi``,
            in ``[0, 1)``; the actual overlap is at least this.

    Returns:
        Sorted start positions; the first is 0 and the last is ``size - roi``.

    Example:
        >>> window_starts(240, 128, 0.5)
        [0, 56, 112]
        >>> window_starts(128, 128, 0.5)
        [0]
    """
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"overlap must be in [0, 1), got {overlap}.")
    if roi < 1 or size < roi:
        raise ConfigError(f"A window of {roi} voxels does not fit an axis of {size} voxels.")
    target_step = max(1.0, roi * (1.0 - overlap))
    steps = math.ceil((size - roi) / target_step) + 1
    if steps == 1:
        return [0]
    step = (size - roi) / (steps - 1)
    return [round(step * i) for i in range(steps)]


def gaussian_importance_map(
    roi_size: Sequence[int], sigma_scale: float = 0.125, dtype: str = "float32"
) -> np.ndarray:
    """The Gaussian weight of each voxel of a window: 1 at the centre, smaller outwards.

    Args:
        roi_size: The window size per spatial axis.
        sigma_scale: σ as a share of the window size per axis (1/8, as nnU-Net and MONAI).
        dtype: The dtype of the map.

    Returns:
        An array of shape ``roi_size``, symmetric under a flip of any axis, with maximum
        1 and a strictly positive minimum (so every voxel gets some weight).

    Example:
        >>> weights = gaussian_importance_map((5, 5))
        >>> float(weights.max()), bool((weights > 0).all()), bool(weights[0, 0] == weights[-1, -1])
        (1.0, True, True)
    """
    if sigma_scale <= 0:
        raise ConfigError(f"sigma_scale must be > 0, got {sigma_scale}.")
    weights = np.ones((), dtype=np.float64)
    for size in roi_size:
        position = np.arange(size, dtype=np.float64) - (size - 1) / 2
        sigma = max(size * sigma_scale, 1e-6)
        weights = np.multiply.outer(weights, np.exp(-0.5 * (position / sigma) ** 2))
    weights /= weights.max()
    # Far corners of a large window underflow towards 0; keep every weight usable.
    smallest = np.finfo(np.dtype(dtype)).tiny * 1e3
    return np.maximum(weights, smallest).astype(dtype)


def flip_combinations(spatial_dims: int) -> list[tuple[int, ...]]:
    """The flips of test-time augmentation: every subset of the spatial axes of a batch
    ``(N, *spatial, C)``, ``()`` first."""
    axes = range(1, spatial_dims + 1)
    return [c for r in range(spatial_dims + 1) for c in itertools.combinations(axes, r)]


def apply_activation(array: np.ndarray, activation: str | None) -> np.ndarray:
    """``array`` (channels last) with ``activation`` applied in place: ``"sigmoid"``,
    ``"softmax"`` over the last axis, or ``None`` for none.

    Args:
        array: Floating-point values, channels last ``(..., C)``; overwritten in place.
        activation: ``"sigmoid"``, ``"softmax"`` or ``None`` (``array`` returned unchanged).

    Example:
        >>> apply_activation(np.zeros((1, 2), np.float32), "softmax").tolist()
        [[0.5, 0.5]]
    """
    if activation == "sigmoid":
        from scipy.special import expit  # stable for any logit, one pass, float32 kept

        return expit(array, out=array)
    if activation == "softmax":
        array -= array.max(axis=-1, keepdims=True)
        np.exp(array, out=array)
        array /= array.sum(axis=-1, keepdims=True)
    return array


class SlidingWindowInferer:
    """Apply a model to whole images window by window (see the module documentation).

    Args:
        roi_size: The window size per spatial axis (the training patch size); its
            length sets 2D or 3D.
        overlap: Overlap of neighbouring windows as a share of the window, in ``[0, 1)``.
        mode: ``"gaussian"`` (importance weights, σ = window/8) or ``"constant"``
            (plain average of overlapping windows).
        batch_size: Windows per model call.
        tta: Also predict every mirrored version of each window and average.
        output: ``"probabilities"`` (the activation applied after blending) or
            ``"logits"`` (the blended model outputs).
        activation: ``"sigmoid"`` (independent region channels), ``"softmax"``
            (exclusive classes) or ``None`` (the model already outputs
            probabilities; ``output`` is then ignored).
        sigma_scale: σ of the Gaussian as a share of the window.
        pad_value: The value the image is padded with where a window is larger.
        blending: Where windows are cut and blended. ``"numpy"``: on the host, each
            batch of windows sent to the model and its outputs brought back.
            ``"device"``: on the backend's device
            (:class:`~unetseg.inference.device_window.DeviceWindows`): the image is
            sent once and only the result comes back; for a ``keras.Model`` or an
            :class:`~unetseg.inference.Ensemble` of them on JAX, TensorFlow or
            PyTorch. ``"auto"`` (default): ``"device"`` when the backend sees a GPU
            and the model can run there, else ``"numpy"``. Both give the same result
            to 1e-5.

    After a call, ``model_calls`` holds the number of model calls it made and
    ``windows`` the number of windows.

    Example:
        >>> inferer = SlidingWindowInferer((4, 4), overlap=0.5, batch_size=8, output="logits")
        >>> image = np.random.default_rng(0).normal(size=(10, 7, 2)).astype("float32")
        >>> result = inferer(lambda batch: batch, image)  # the identity as the model
        >>> result.shape, bool(np.allclose(result, image, atol=1e-6)), inferer.windows
        ((10, 7, 2), True, 12)

    Raises:
        ConfigError: For an invalid option (the message names it).
        DataError: If the image's rank does not match ``roi_size`` or the model's
            output does not keep the window's spatial shape.
    """

    def __init__(
        self,
        roi_size: Sequence[int],
        overlap: float = 0.5,
        mode: str = "gaussian",
        batch_size: int = 4,
        tta: bool = False,
        output: str = "probabilities",
        activation: str | None = "sigmoid",
        sigma_scale: float = 0.125,
        pad_value: float = 0.0,
        blending: str = "auto",
    ) -> None:
        self.roi_size = tuple(int(s) for s in roi_size)
        if len(self.roi_size) not in (2, 3) or min(self.roi_size) < 1:
            raise ConfigError(
                f"roi_size must give 2 or 3 positive window sizes, got {tuple(roi_size)}."
            )
        if not 0.0 <= float(overlap) < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {overlap}.")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}.")
        self.overlap = float(overlap)
        self.mode = check_choice(mode, _MODES, what="SlidingWindowInferer mode")
        self.batch_size = int(batch_size)
        self.tta = bool(tta)
        self.output = check_choice(output, _OUTPUTS, what="SlidingWindowInferer output")
        if activation not in _ACTIVATIONS:
            raise ConfigError(
                f"activation must be 'sigmoid', 'softmax' or None, got {activation!r}."
            )
        self.activation = activation
        self.sigma_scale = float(sigma_scale)
        self.pad_value = float(pad_value)
        self.blending = check_choice(blending, BLENDINGS, what="SlidingWindowInferer blending")
        if self.mode == "gaussian":
            self.importance = gaussian_importance_map(self.roi_size, self.sigma_scale)
        else:
            self.importance = np.ones(self.roi_size, dtype=np.float32)
        self.model_calls = 0
        self.windows = 0

    def __repr__(self) -> str:
        return (
            f"SlidingWindowInferer(roi_size={self.roi_size}, overlap={self.overlap}, "
            f"mode={self.mode!r}, batch_size={self.batch_size}, tta={self.tta}, "
            f"output={self.output!r}, activation={self.activation!r}, "
            f"blending={self.blending!r})"
        )

    @property
    def flips(self) -> list[tuple[int, ...]]:
        """The spatial axes (of a batch ``(N, *spatial, C)``) each window is mirrored
        along, one tuple per prediction: ``[()]`` without TTA."""
        return flip_combinations(len(self.roi_size)) if self.tta else [()]

    def predict_function(self, model: Any) -> Callable[[np.ndarray], np.ndarray]:
        """A function from a batch of windows to the model's (first) output as NumPy.

        A Keras model runs through ``predict_on_batch``: one compiled function,
        traced once because every batch has the same shape. A deep-supervision model's
        first output is its highest-resolution head; a functional model with several
        outputs is cut down to that one, so the other heads are neither computed nor
        copied back to the host.
        """
        import keras

        call = first_head(model).predict_on_batch if isinstance(model, keras.Model) else model

        def predict(batch: np.ndarray) -> np.ndarray:
            result = first_output(call(batch))
            if not isinstance(result, np.ndarray):  # convert_to_numpy would copy it
                result = keras.ops.convert_to_numpy(result)
            return np.asarray(result, dtype=np.float32)

        return predict

    def __call__(self, model: Any, image: Any) -> np.ndarray:
        """Predict ``image`` of shape ``(*spatial, C)`` or ``(N, *spatial, C)``.

        Args:
            model: A ``keras.Model`` (deep-supervision models included) or any
                function from a batch ``(B, *roi_size, C)`` to outputs
                ``(B, *roi_size, K)``.
            image: The channels-last image(s), any spatial size.

        Returns:
            ``(*spatial, K)`` or ``(N, *spatial, K)`` float32, like the input.
        """
        images, single = self._as_batch(image)
        result = self._predict_batch(model, images)
        return result[0] if single else result

    def label_map(
        self,
        model: Any,
        image: Any,
        task: Task | str,
        threshold: float = 0.5,
        *,
        background_where_empty: bool = False,
    ) -> np.ndarray:
        """The task's ``uint8`` label map of ``image``, predicted window by window.

        The blended outputs go through the inferer's ``activation`` (whatever its
        ``output``) and are decoded as :meth:`~unetseg.task.Task.decode` does: regions
        thresholded and painted, classes by their most probable channel. With device
        blending (:meth:`uses_device`) that happens on the device and only the label
        map comes back (:meth:`~unetseg.inference.device_window.DeviceWindows.labels`);
        the two paths give the same labels wherever the probabilities are not within
        1e-5 of ``threshold`` (or of a tie).

        Args:
            model: As for calling the inferer.
            image: The channels-last image ``(*spatial, C)`` or images ``(N, *spatial, C)``.
            task: What the outputs mean (a :class:`~unetseg.task.Task` or its name);
                the inferer's ``activation`` should be its activation (``None`` for a
                model that outputs probabilities).
            threshold: A voxel is in a region where its probability exceeds this.
            background_where_empty: Label 0 wherever every input channel is 0, as
                :func:`~unetseg.inference.background_outside_input` does to
                probabilities.

        Returns:
            ``(*spatial)`` or ``(N, *spatial)`` ``uint8``, like the input.

        Raises:
            ConfigError: If ``threshold`` is outside [0, 1] or ``task`` is unknown.
            DataError: If the model's outputs are not ``task.out_channels`` long.

        Example:
            >>> inferer = SlidingWindowInferer((4, 4), activation=None)
            >>> image = np.zeros((6, 6, 3), "float32"); image[2:4, 2:4] = 0.9
            >>> inferer.label_map(lambda batch: batch, image, "brats_regions")[1:5, 2]
            array([0, 4, 4, 0], dtype=uint8)
        """
        task = resolve_task(task)
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {threshold}.")
        images, single = self._as_batch(image)
        if self.uses_device(model):
            from unetseg.inference.device_window import DeviceWindows

            labels = DeviceWindows(self, model).labels(
                images, task, threshold, background_where_empty=background_where_empty
            )
        else:
            probabilities = self._predict_batch(model, images)
            if self.output == "logits":
                probabilities = apply_activation(probabilities, self.activation)
            if background_where_empty:
                background_outside_input(probabilities, images)
            labels = task.decode(probabilities, threshold)
        return labels[0] if single else labels

    def _as_batch(self, image: Any) -> tuple[np.ndarray, bool]:
        """``image`` as a float32 batch ``(N, *spatial, C)``, and whether it was one image."""
        image = np.asarray(image, dtype=np.float32)
        dims = len(self.roi_size)
        if image.ndim == dims + 1:
            return image[None], True
        if image.ndim == dims + 2:
            return image, False
        raise DataError(
            f"A {dims}D window of size {self.roi_size} needs an image of shape "
            f"(*spatial, C) or (N, *spatial, C) with {dims} spatial axes, got shape "
            f"{image.shape}."
        )

    def window_plan(
        self, spatial: Sequence[int]
    ) -> tuple[tuple[int, ...], list[tuple[int, int]], list[tuple[int, ...]]]:
        """How an image of spatial size ``spatial`` is covered: its padded size (at least
        the window along every axis), the padding ``(before, after)`` per axis (centred)
        and the start of every window in the padded image."""
        spatial = tuple(int(s) for s in spatial)
        padded = tuple(max(s, r) for s, r in zip(spatial, self.roi_size, strict=True))
        extra = [p - s for p, s in zip(padded, spatial, strict=True)]
        padding = [(e // 2, e - e // 2) for e in extra]
        grids = [
            window_starts(size, roi, self.overlap)
            for size, roi in zip(padded, self.roi_size, strict=True)
        ]
        return padded, padding, list(itertools.product(*grids))

    def weight_sum(self, padded: Sequence[int], starts: Sequence[Sequence[int]]) -> np.ndarray:
        """The summed importance of the windows at ``starts`` at each voxel of the padded
        image of spatial size ``padded`` (what the blend is divided by), float32."""
        total = np.zeros(tuple(padded), dtype=np.float32)
        for start in starts:
            box = tuple(slice(a, a + r) for a, r in zip(start, self.roi_size, strict=True))
            total[box] += self.importance
        return total

    def uses_device(self, model: Any) -> bool:
        """Whether ``model`` is predicted with device blending (the ``blending`` option)."""
        if self.blending != "auto":
            return self.blending == "device"
        from unetseg.backends import accelerator_visible

        try:
            device_network(model)
        except ConfigError:
            return False
        return accelerator_visible()

    def _predict_batch(self, model: Any, images: np.ndarray) -> np.ndarray:
        if self.uses_device(model):
            from unetseg.inference.device_window import DeviceWindows

            return DeviceWindows(self, model)(images)  # its compiled parts are cached
        predict = self.predict_function(model)
        spatial = images.shape[1:-1]
        padded_spatial, padding, starts = self.window_plan(spatial)
        if padded_spatial != spatial:
            images = np.pad(images, [(0, 0), *padding, (0, 0)], constant_values=self.pad_value)
        boxes = [
            tuple(slice(a, a + r) for a, r in zip(start, self.roi_size, strict=True))
            for start in starts
        ]
        weight_sum = self.weight_sum(padded_spatial, starts)
        flips = self.flips
        self.model_calls = 0
        self.windows = len(images) * len(boxes)
        # Windows of every image share the batches (a stack of 2D slices has one window
        # per slice); each image's windows are blended in the same order as alone.
        jobs = [(index, box) for index in range(len(images)) for box in boxes]
        accumulator: np.ndarray | None = None
        weighted: np.ndarray | None = None  # one window's output × importance, reused
        for first in range(0, len(jobs), self.batch_size):
            chunk = jobs[first : first + self.batch_size]
            batch = np.stack([images[index][(*box, slice(None))] for index, box in chunk])
            if len(chunk) < self.batch_size:  # same shape every call: one trace
                filler = np.zeros((self.batch_size - len(chunk), *batch.shape[1:]), batch.dtype)
                batch = np.concatenate([batch, filler])
            outputs = self._predict_flipped(predict, batch, flips)[: len(chunk)]
            if accumulator is None:
                shape = (len(images), *padded_spatial, outputs.shape[-1])
                accumulator = np.zeros(shape, np.float32)
            if weighted is None or weighted.shape != outputs.shape[1:]:
                weighted = np.empty(outputs.shape[1:], np.float32)
            for (index, box), output in zip(chunk, outputs, strict=True):
                np.multiply(output, self.importance[..., None], out=weighted)
                accumulator[(index, *box, slice(None))] += weighted
        assert accumulator is not None
        accumulator /= weight_sum[..., None]
        blended = accumulator  # no copy of the volume when nothing was padded
        if padded_spatial != spatial:
            crop = tuple(slice(b, b + s) for (b, _), s in zip(padding, spatial, strict=True))
            blended = np.ascontiguousarray(accumulator[(slice(None), *crop, slice(None))])
        if self.output == "probabilities":
            blended = apply_activation(blended, self.activation)
        return blended

    def _predict_flipped(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        batch: np.ndarray,
        flips: Sequence[tuple[int, ...]],
    ) -> np.ndarray:
        total: np.ndarray | None = None
        for axes in flips:
            flipped = np.flip(batch, axis=axes) if axes else batch
            output = predict(np.ascontiguousarray(flipped))
            self.model_calls += 1
            if output.shape[:-1] != batch.shape[:-1]:
                raise DataError(
                    f"The model turned a batch of windows of shape {batch.shape} into outputs "
                    f"of shape {output.shape}; sliding-window inference needs outputs of the "
                    "window's spatial size (is roi_size a multiple of the network's stride?)."
                )
            output = np.flip(output, axis=axes) if axes else output
            if total is None:
                total = output if len(flips) == 1 else np.array(output, dtype=np.float32)
            else:
                total += output
        assert total is not None
        if len(flips) > 1:
            total /= len(flips)
        return total


def sliding_window_inference(
    model: Any,
    image: Any,
    roi_size: Sequence[int],
    overlap: float = 0.5,
    mode: str = "gaussian",
    batch_size: int = 4,
    tta: bool = False,
    output: str = "probabilities",
    activation: str | None = "sigmoid",
    **kwargs: Any,
) -> np.ndarray:
    """Predict a whole image window by window; see :class:`SlidingWindowInferer`.

    Args:
        model: A ``keras.Model`` or any function from a batch of windows
            ``(B, *roi_size, C)`` to outputs ``(B, *roi_size, K)``.
        image: The channels-last image ``(*spatial, C)`` or images ``(N, *spatial, C)``.
        roi_size: The window size per spatial axis (the training patch size).
        overlap: Overlap of neighbouring windows as a share of the window, in ``[0, 1)``.
        mode: ``"gaussian"`` (importance weights) or ``"constant"`` (plain average).
        batch_size: Windows per model call.
        tta: Also predict every mirrored version of each window and average.
        output: ``"probabilities"`` (the activation applied after blending) or ``"logits"``.
        activation: ``"sigmoid"``, ``"softmax"`` or ``None`` (the model outputs
            probabilities already).
        **kwargs: Further :class:`SlidingWindowInferer` options (``sigma_scale``,
            ``pad_value``).

    Example:
        >>> image = np.ones((9, 9, 9, 1), dtype="float32")
        >>> sliding_window_inference(lambda b: b * 2, image, (4, 4, 4), output="logits")[0, 0, 0]
        array([2.], dtype=float32)
    """
    inferer = SlidingWindowInferer(
        roi_size,
        overlap=overlap,
        mode=mode,
        batch_size=batch_size,
        tta=tta,
        output=output,
        activation=activation,
        **kwargs,
    )
    return inferer(model, image)
