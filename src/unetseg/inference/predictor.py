"""The :class:`Predictor`: model + preprocessing + sliding window + post-processing, per case."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError, in_case
from unetseg.inference.manifest import MANIFEST_NAME, PredictionManifest, model_digest
from unetseg.inference.postprocess import (
    LabelMapPostprocess,
    background_outside_input,
    brats_submission_name,
    write_label_map,
)
from unetseg.inference.sliding_window import SlidingWindowInferer
from unetseg.regions import convert_label_convention
from unetseg.transforms.geometry import any_channel
from unetseg.transforms.io import LoadImage, LoadImaged
from unetseg.transforms.metadata import meta_key

__all__ = ["Predictor", "load_model"]


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a ``.keras`` model saved by unetseg (its loss, metrics and schedule included),
    in safe mode, with no ``custom_objects``; or an exported ``.onnx`` model, run by
    onnxruntime (:class:`~unetseg.inference.OnnxModel`).

    Args:
        path: The ``.keras`` (or ``.onnx``) file.

    Raises:
        DataError: If the file does not exist or cannot be read as a model.
    """
    import keras

    from unetseg.registry import load_keras_components

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Model file {path} does not exist.")
    if path.suffix.lower() == ".onnx":
        from unetseg.inference.export import OnnxModel

        return OnnxModel(path)
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise DataError(
            f"Cannot load {path}: it is not a .keras file (a .keras file is a zip archive; "
            f"this one is corrupt, truncated or of another format, {path.stat().st_size} bytes)."
        )
    load_keras_components()  # the loss, metrics and schedule saved with the model
    try:
        return keras.saving.load_model(path)
    except (OSError, ValueError, KeyError) as error:
        raise DataError(
            f"Cannot load {path} as a Keras model: {type(error).__name__}: {error}"
        ) from error


def _paths(value: Any) -> list[Path] | None:
    """The file paths of a record's image entry, or ``None`` if it holds no paths."""
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(items, (list, tuple)) or not items:
        return None
    if not all(isinstance(item, (str, os.PathLike)) for item in items):
        return None
    return [Path(item) for item in items]


def _empty_voxels(paths: Any) -> np.ndarray:
    """Where every channel of the image in ``paths`` is 0, on its own grid."""
    source = LoadImage(image_only=True)(paths)
    return ~any_channel(source, lambda values: values != 0)


def _load_model(model: Any) -> Any:
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    if not callable(model):
        raise ConfigError(
            f"model must be a keras.Model, a .keras or .onnx file or a function, got {model!r}."
        )
    return model


def _check_activation(model: Any, inferer: SlidingWindowInferer) -> None:
    """Refuse to apply an activation to outputs that are probabilities already."""
    from unetseg.networks.outputs import output_activation

    produced = output_activation(model)
    if produced is not None and inferer.output == "probabilities" and inferer.activation:
        raise ConfigError(
            f"The model already ends in a {produced}; the inferer would apply "
            f"{inferer.activation} on top. Use SlidingWindowInferer(..., activation=None)."
        )


class Predictor:
    """Segment cases end to end and write their label maps.

    For each record (``{"id": ..., "image": [paths]}``, as from
    :func:`~unetseg.data.find_brats_cases`): preprocess, predict by sliding window,
    post-process back to a label map on the source grid, write
    ``output_dir/<id>.nii.gz`` (``uint8``, the source affine and header). 2D and 3D
    networks take the same path: a 2D preprocessing turns a volume into a stack of
    slices, which the inferer predicts as a batch of images and the recorded
    operations put back.

    Args:
        model: A ``keras.Model``, the path of a ``.keras`` file, or a function from a
            batch of windows to outputs.
        inferer: The :class:`SlidingWindowInferer` (window size, overlap, TTA, ...).
        preprocess: The deterministic preprocessing used for training (load,
            normalise, crop to the brain...): a record with paths in, a record with the
            image array and its ``"<image_key>_meta"`` out. By default only
            ``LoadImaged(image_key)``.
        postprocess: ``(probabilities, meta) -> label map on the source grid``; by
            default :class:`LabelMapPostprocess` of ``task``.
        task: What the outputs mean (a :class:`~unetseg.task.Task` or its name), for
            the default ``postprocess``.
        image_key: The record key of the image.
        file_name: ``case id -> file name``; by default the BraTS submission name.
        outside_is_background: Predict background wherever every input channel is 0
            — outside the brain of a skull-stripped scan, where a network has nothing
            to see and may still answer (an empty scan got tens of thousands of
            "tumour" voxels).

    Raises:
        ConfigError: For an inferer that is not a ``SlidingWindowInferer``, neither
            ``postprocess`` nor ``task``, or an inferer that would apply an activation
            to a model that outputs probabilities already.
        DataError: If the model file does not exist.

    Example:
        ``Predictor("best.keras", SlidingWindowInferer((128, 128, 128), tta=True),
        preprocess, task="brats_regions").predict(find_brats_cases(folder), "out")``
    """

    def __init__(
        self,
        model: Any,
        inferer: SlidingWindowInferer,
        preprocess: Callable[[dict], dict] | None = None,
        postprocess: Callable[[np.ndarray, dict], np.ndarray] | None = None,
        *,
        task: Any = None,
        image_key: str = "image",
        file_name: Callable[[str], str] = brats_submission_name,
        outside_is_background: bool = True,
    ) -> None:
        if not isinstance(inferer, SlidingWindowInferer):
            raise ConfigError(f"inferer must be a SlidingWindowInferer, got {inferer!r}.")
        if postprocess is None and task is None:
            raise ConfigError(
                "Predictor needs postprocess=... or task=... (what the outputs mean, such as "
                "'brats_regions') to turn probabilities into label maps."
            )
        self.model = _load_model(model)
        _check_activation(self.model, inferer)
        self.inferer = inferer
        self.preprocess = preprocess if preprocess is not None else LoadImaged(image_key)
        self.postprocess = postprocess if postprocess is not None else LabelMapPostprocess(task)
        self.image_key = image_key
        self.file_name = file_name
        self.outside_is_background = bool(outside_is_background)

    def probabilities(self, record: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """Preprocess one case and predict it: the probabilities on the preprocessed grid
        and the preprocessed record (with the image metadata).

        Raises:
            DataError: If the preprocessing gives no image or no metadata.
        """
        case_id = record.get("id", "<no id>")
        with in_case(case_id):
            return self._probabilities(record, case_id)

    def _probabilities(
        self, record: dict[str, Any], case_id: str
    ) -> tuple[np.ndarray, dict[str, Any]]:
        prepared, image = self._prepare(record, case_id)
        return self._predicted(image), prepared

    def _predicted(self, image: np.ndarray) -> np.ndarray:
        """The probabilities of the preprocessed ``image``, background where it is empty
        when ``outside_is_background``."""
        probabilities = self.inferer(self.model, image)
        if self.outside_is_background:
            background_outside_input(probabilities, image)
        return probabilities

    def _prepare(self, record: dict[str, Any], case_id: str) -> tuple[dict[str, Any], np.ndarray]:
        """The preprocessed record and its image array."""
        prepared = self.preprocess(dict(record))
        if isinstance(prepared, list):
            raise DataError(
                f"The preprocessing of case {case_id!r} returned {len(prepared)} records; "
                "prediction needs a deterministic one-record pipeline (no patch sampling)."
            )
        image = prepared.get(self.image_key)
        meta = prepared.get(meta_key(self.image_key))
        if not isinstance(image, np.ndarray) or meta is None:
            raise DataError(
                f"The preprocessing of case {case_id!r} left no image array and metadata under "
                f"{self.image_key!r} / {meta_key(self.image_key)!r}; does it load the image?"
            )
        return prepared, image

    def predict_record(self, record: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """Segment one case.

        With device blending, and a :class:`LabelMapPostprocess` for which decoding
        before undoing the preprocessing changes nothing
        (:meth:`~LabelMapPostprocess.decodes_first`: the preprocessing only cropped,
        padded, flipped or rotated), the label map is decoded on the device and only it
        comes back (:meth:`SlidingWindowInferer.label_map`); otherwise the
        probabilities come back and are decoded on the source grid.

        Returns:
            The label map on the source grid and the image metadata.

        Raises:
            DataError: If the preprocessing gives no image or no metadata.
        """
        ((labels, meta),) = self._segment([record])
        return labels, meta

    def _segment(self, records: list[dict[str, Any]]) -> Iterator[tuple[np.ndarray, dict]]:
        """Each record's label map on the source grid and its image metadata, in order.

        Two threads work ahead of the model: while a case is predicted, the next one is
        preprocessed and its source files' empty voxels are read (for
        :meth:`background_on_source`); on a GPU the host would otherwise wait. One case
        is preprocessed at a time, so the preprocessing need not be thread-safe; an
        error is raised, naming its case, when that case's turn comes.
        """
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="unetseg-read-ahead")
        try:
            ahead = self._read_ahead(pool, records[0]) if records else None
            for index, record in enumerate(records):
                case_id = record.get("id", "<no id>")
                with in_case(case_id):
                    assert ahead is not None
                    preparing, emptying, paths = ahead
                    prepared, image = preparing.result()
                    ahead = (
                        self._read_ahead(pool, records[index + 1])
                        if index + 1 < len(records)
                        else None
                    )
                    meta = prepared[meta_key(self.image_key)]
                    labels = self._label_map(image, meta)
                    empty = None
                    if emptying is not None and meta.get("filenames") == [str(p) for p in paths]:
                        empty = emptying.result()
                    labels = self.background_on_source(labels, meta, empty=empty)
                yield labels, meta
        finally:  # an error is raised at once, not after the work ahead is done
            pool.shutdown(wait=False, cancel_futures=True)

    def _read_ahead(self, pool: ThreadPoolExecutor, record: dict[str, Any]) -> tuple[Any, ...]:
        """Start preprocessing ``record`` and reading its source's empty voxels in ``pool``."""
        preparing = pool.submit(self._prepare, record, record.get("id", "<no id>"))
        paths = _paths(record.get(self.image_key)) if self.outside_is_background else None
        emptying = pool.submit(_empty_voxels, paths) if paths else None
        return preparing, emptying, paths or []

    def _label_map(self, image: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
        """The preprocessed ``image`` predicted and post-processed onto the source grid."""
        if self.decodes_on_device(meta):
            post = self.postprocess
            assert isinstance(post, LabelMapPostprocess)
            labels = self.inferer.label_map(
                self.model,
                image,
                post.task,
                post.threshold,
                background_where_empty=self.outside_is_background,
            )
            return post.from_labels(labels, meta)
        return self.postprocess(self._predicted(image), meta)

    def decodes_on_device(self, meta: dict[str, Any]) -> bool:
        """Whether the case of ``meta`` (the preprocessed image's metadata) has its label
        map decoded on the device (see :meth:`predict_record`)."""
        post = self.postprocess
        return (
            isinstance(post, LabelMapPostprocess)
            and self.inferer.output == "probabilities"
            and post.decodes_first(meta)
            and self.inferer.uses_device(self.model)
        )

    def background_on_source(
        self, labels: np.ndarray, meta: dict[str, Any], *, empty: np.ndarray | None = None
    ) -> np.ndarray:
        """``labels`` (on the source grid) with 0 wherever every channel of the source
        image is 0, when ``outside_is_background``: exact on the source grid too, where
        a resampled grid's voxels straddle the edge of the brain.

        Args:
            labels: The label map on the source grid; not modified.
            meta: The image metadata, whose ``"filenames"`` are read again.
            empty: The source's empty voxels when already known (then nothing is read).
        """
        if not (self.outside_is_background and meta.get("filenames")):
            return labels
        if empty is None:
            empty = _empty_voxels(meta["filenames"])
        labels = np.array(labels, copy=True)
        if empty.shape == labels.shape:
            labels[empty] = 0
        return labels

    def predict(
        self,
        records: Iterable[dict[str, Any]],
        output_dir: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: bool = True,
        provenance: Mapping[str, Any] | None = None,
        manifest: str = MANIFEST_NAME,
    ) -> list[Path]:
        """Segment every case and write its label map; return the written paths.

        What wrote each file is recorded in ``output_dir/predictions.json``
        (:class:`~unetseg.inference.manifest.PredictionManifest`): a digest of the
        model's weights and ``provenance``. A case whose file was written by this model
        with this provenance, and is unchanged since, is skipped, so an interrupted run
        resumes when started again; any other file already there (another model or
        settings, another program, changed since) is refused before anything is
        predicted, unless ``overwrite``, which predicts every case again. Each file is
        written atomically, then recorded.

        Args:
            records: The cases (``{"id": ..., "image": [paths]}``).
            output_dir: The folder of the label maps (created if needed).
            overwrite: Predict every case, replacing files already there.
            progress: Show a progress bar.
            provenance: JSON-compatible settings that decide the result besides the
                model's weights (the command line gives the inference and
                post-processing settings), recorded and compared.
            manifest: The manifest's file name in ``output_dir`` (one per shard when
                several machines predict into one folder).

        Raises:
            DataError: If a record has no ``id``, two records share one, or
                ``output_dir`` holds files of these cases that this predictor did not
                write (without ``overwrite``); the message names them.
        """
        records = list(records)
        output_dir = Path(output_dir)
        ids = []
        for record in records:
            if "id" not in record:
                raise DataError(f"A record to predict has no 'id': keys {sorted(record)}.")
            ids.append(str(record["id"]))
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise DataError(f"Case ids must be unique; repeated: {duplicates}.")
        if output_dir.exists() and not output_dir.is_dir():
            raise DataError(f"The output folder {output_dir} is a file.")
        paths = [output_dir / self.file_name(i) for i in ids]
        written = PredictionManifest(output_dir, manifest)
        source = {"model": model_digest(self.model), **dict(provenance or {})}
        todo = []
        stale = []
        for record, path in zip(records, paths, strict=True):
            if overwrite or not path.exists():
                todo.append((record, path))
            elif not written.is_current(path.name, source):
                stale.append(f"{path.name} ({written.describe(path.name)})")
        if stale:
            raise DataError(
                f"{output_dir} already holds {len(stale)} prediction(s) that this model and "
                f"these settings did not write: {'; '.join(stale[:3])}"
                f"{' ...' if len(stale) > 3 else ''}. Predict into another folder, delete "
                "them, or overwrite (--overwrite) to predict every case again."
            )
        iterator: Iterable[tuple[dict[str, Any], Path]] = todo
        if progress and todo:
            from rich.progress import track

            iterator = track(todo, description=f"Predicting {len(todo)} cases into {output_dir}")
        cases = self._segment([record for record, _ in todo])
        for (record, path), (labels, meta) in zip(iterator, cases, strict=True):
            # In the dataset's own labels (BraTS 2023: enhancing tumour 3).
            labels = convert_label_convention(
                labels, record.get("label_convention"), to_dataset=True
            )
            write_label_map(labels, path, meta, overwrite=True)
            written.record(path.name, source)
        return paths
