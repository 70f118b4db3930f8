"""Models for deployment: a TensorFlow SavedModel or an ONNX file, and ONNX inference.

:func:`export_model` writes the model's first output (a deep-supervision model's
highest-resolution head) with a dynamic batch and spatial size, through Keras's own
``model.export`` on the TensorFlow backend (``tf2onnx`` for ONNX), into a temporary
name that is moved into place, so a failed export leaves nothing behind and an
overwritten export is replaced only once the new one is complete. :func:`exported_difference`
runs the written model — in onnxruntime or TensorFlow, not Keras — on a window and
returns its largest difference to the Keras model. :class:`OnnxModel` runs an ``.onnx``
file in onnxruntime as a function of a batch of windows, so the
:class:`~unetseg.inference.Predictor` and the sliding window use it as they use a Keras
model (``Predictor("model.onnx", ...)``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.optional import require

__all__ = ["EXPORT_FORMATS", "OnnxModel", "export_model", "exported_difference"]

#: The formats :func:`export_model` writes: a SavedModel folder (TensorFlow Serving,
#: TFLite converters) or an ONNX file (onnxruntime, TensorRT, OpenVINO).
EXPORT_FORMATS = ("savedmodel", "onnx")

_KERAS_FORMAT = {"savedmodel": "tf_saved_model", "onnx": "onnx"}


def _first_output(model: Any) -> Any:
    """The model with its first output only (a deep-supervision model's full-size head)."""
    from unetseg.inference.heads import first_head

    return first_head(model)


def export_model(
    model: Any, path: str | os.PathLike[str], *, format: str, overwrite: bool = False
) -> Path:
    """Write ``model`` for deployment, its first output only, batch and size dynamic.

    Args:
        model: A ``keras.Model`` (a deep-supervision model keeps its first head).
        path: The SavedModel folder, or the ``.onnx`` file, to write.
        format: ``"savedmodel"`` or ``"onnx"``.
        overwrite: Replace what is at ``path``.

    Returns:
        ``path``.

    Raises:
        ConfigError: For an unknown format, a model that is not a ``keras.Model``, a backend
            other than TensorFlow, a path that does not fit the format (``.onnx`` for
            ONNX, a folder for a SavedModel), or ``path`` existing without ``overwrite``
            (or, with it, being something else than an export of that format).
        MissingDependencyError: Without TensorFlow (SavedModel) or ``tf2onnx``/``onnx``
            (ONNX); the message names the extra.
        UnetsegError: If Keras cannot export the model (the message says why).
    """
    import keras

    from unetseg.errors import UnetsegError

    if format not in EXPORT_FORMATS:
        raise ConfigError(f"format must be one of {EXPORT_FORMATS}, got {format!r}.")
    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"export_model exports a keras.Model, got {type(model).__name__} (an exported "
            "model cannot be exported again)."
        )
    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            f"Export runs on the TensorFlow backend (KERAS_BACKEND=tensorflow), where it is "
            f"tested; this process runs {keras.backend.backend()!r}."
        )
    path = Path(path)
    onnx_file = path.suffix.lower() == ".onnx"
    if (format == "onnx") != onnx_file:
        raise ConfigError(
            f"{path}: an ONNX export is a file ending in .onnx, a SavedModel a folder that "
            f"does not; got format {format!r}."
        )
    if path.exists():
        if not overwrite:
            raise ConfigError(f"{path} exists; choose another path or overwrite it.")
        replaceable = path.is_file() if onnx_file else (path / "saved_model.pb").is_file()
        if not replaceable:
            raise ConfigError(
                f"{path} exists and is not {'an ONNX file' if onnx_file else 'a SavedModel'}; "
                "it is not replaced."
            )
    if format == "savedmodel":
        require("tensorflow", purpose="Exporting a SavedModel")
    else:
        require("onnx", purpose="Exporting ONNX")
        require("tf2onnx", purpose="Exporting ONNX")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    _remove(partial)
    exported = _first_output(model)
    try:
        exported.export(
            str(partial),
            format=_KERAS_FORMAT[format],
            verbose=False,
            input_signature=_input_signature(exported),
        )
    except BaseException as error:
        _remove(partial)
        if isinstance(error, Exception):
            raise UnetsegError(
                f"Keras could not export the model as {format}: {type(error).__name__}: {error}"
            ) from error
        raise
    _move_into_place(partial, path)
    return path


def _move_into_place(partial: Path, path: Path) -> None:
    """``partial`` becomes ``path``; an old ``path`` is kept until the new one is there."""
    if partial.is_file():
        os.replace(partial, path)  # atomic for a file, even over an old one
        return
    old = path.with_name(f".{path.name}.old")
    _remove(old)
    if path.exists():
        os.replace(path, old)
    os.replace(partial, path)
    _remove(old)


def _input_signature(model: Any) -> list[Any] | None:
    """The model's input with a dynamic batch, as Keras's exporters take it (given, so
    a model never called, such as a first head cut from a network, exports too)."""
    import keras

    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        return None  # Keras finds it from the model's calls
    tensor = inputs[0]
    shape = (None, *tuple(tensor.shape)[1:])
    return [keras.InputSpec(dtype=str(tensor.dtype), shape=shape, name=tensor.name)]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def exported_difference(path: str | os.PathLike[str], model: Any, window: np.ndarray) -> float:
    """The largest absolute difference between the exported model and ``model`` on
    ``window`` (a batch ``(N, *spatial, C)``), the exported one run by onnxruntime (an
    ``.onnx`` file) or TensorFlow (a SavedModel folder).

    Args:
        path: What :func:`export_model` wrote.
        model: The Keras model it was exported from.
        window: The input to compare on.
    """
    import keras

    window = np.asarray(window, dtype=np.float32)
    expected = keras.ops.convert_to_numpy(_first_output(model)(window, training=False))
    path = Path(path)
    if path.is_dir():
        tf = require("tensorflow", purpose="Running a SavedModel")
        loaded = tf.saved_model.load(str(path))  # kept: its functions use its variables
        found = loaded.serve(tf.constant(window)).numpy()
    else:
        found = OnnxModel(path)(window)
    return float(np.max(np.abs(np.asarray(found, dtype=np.float32) - expected)))


class OnnxModel:
    """An exported ``.onnx`` model run by onnxruntime, as a function of a batch.

    Args:
        path: The ``.onnx`` file.
        providers: onnxruntime execution providers, in order of preference (default:
            CUDA when onnxruntime has it, then the CPU).

    Attributes:
        path: The file.
        file_digest: A SHA-256 of the file; prediction manifests record it as the
            model's identity.

    Raises:
        DataError: If the file is missing or onnxruntime cannot read it.
        MissingDependencyError: Without onnxruntime (the ``export`` extra).

    Example:
        ``Predictor("model.onnx", SlidingWindowInferer((128, 128, 128)), task=...)``
    """

    def __init__(self, path: str | os.PathLike[str], providers: list[str] | None = None) -> None:
        ort = require("onnxruntime", purpose="Running an ONNX model")
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"ONNX model {self.path} does not exist.")
        available = ort.get_available_providers()
        if providers is None:
            providers = [
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
            ]
        try:
            self.session = ort.InferenceSession(str(self.path), providers=providers)
        except Exception as error:
            raise DataError(
                f"Cannot load {self.path} as an ONNX model: {type(error).__name__}: {error}"
            ) from error
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.session.get_inputs()[0].shape)
        self.file_digest = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The model's (first) output for a batch ``(N, *spatial, C)``, as float32."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self.session.run(None, {self.input_name: batch})[0], np.float32)

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, input {self.input_shape})"
