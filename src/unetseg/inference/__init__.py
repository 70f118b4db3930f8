"""Whole-volume inference: sliding windows, test-time augmentation, post-processing.

:func:`sliding_window_inference` (or a reusable :class:`SlidingWindowInferer`) applies
a patch-trained network to an image of any size with Gaussian blending and optional
flip TTA, on every Keras backend, blending the windows on the host or, on a GPU, on
the device (:class:`~unetseg.inference.device_window.DeviceWindows`).
``unetseg.inference.postprocess`` turns region probabilities into a BraTS label map
on the source grid and writes it; the
:class:`Predictor` does all of it for a list of cases. :func:`export_model` writes a
model as a SavedModel or ONNX file for deployment; :class:`OnnxModel` runs the latter.
"""

from typing import TYPE_CHECKING

from unetseg.inference.evaluation import evaluate_predictions
from unetseg.inference.manifest import PredictionManifest, model_digest
from unetseg.inference.postprocess import (
    BratsPostprocess,
    LabelMapPostprocess,
    background_outside_input,
    brats_submission_name,
    is_brats_task,
    keep_largest_component,
    probabilities_to_brats_labels,
    read_label_map,
    restore_geometry,
    suppress_small_enhancing,
    write_label_map,
)
from unetseg.lazy import lazy_attributes

# What runs a network imports Keras, on first use: reading, writing and scoring label
# maps (the command line's ``evaluate``) does not start a backend.
_KERAS_MODULES = {
    "unetseg.inference.ensemble": ["Ensemble"],
    "unetseg.inference.export": [
        "EXPORT_FORMATS",
        "OnnxModel",
        "export_model",
        "exported_difference",
    ],
    "unetseg.inference.predictor": ["Predictor", "load_model"],
    "unetseg.inference.sliding_window": [
        "BLENDINGS",
        "SlidingWindowInferer",
        "apply_activation",
        "gaussian_importance_map",
        "sliding_window_inference",
        "window_starts",
    ],
}
__getattr__ = lazy_attributes(
    __name__, {name: module for module, names in _KERAS_MODULES.items() for name in names}
)

if TYPE_CHECKING:
    from unetseg.inference.ensemble import Ensemble
    from unetseg.inference.export import (
        EXPORT_FORMATS,
        OnnxModel,
        export_model,
        exported_difference,
    )
    from unetseg.inference.predictor import Predictor, load_model
    from unetseg.inference.sliding_window import (
        BLENDINGS,
        SlidingWindowInferer,
        apply_activation,
        gaussian_importance_map,
        sliding_window_inference,
        window_starts,
    )

__all__ = [
    "BLENDINGS",
    "EXPORT_FORMATS",
    "BratsPostprocess",
    "Ensemble",
    "LabelMapPostprocess",
    "OnnxModel",
    "PredictionManifest",
    "Predictor",
    "SlidingWindowInferer",
    "apply_activation",
    "background_outside_input",
    "brats_submission_name",
    "evaluate_predictions",
    "export_model",
    "exported_difference",
    "gaussian_importance_map",
    "is_brats_task",
    "keep_largest_component",
    "load_model",
    "model_digest",
    "probabilities_to_brats_labels",
    "read_label_map",
    "restore_geometry",
    "sliding_window_inference",
    "suppress_small_enhancing",
    "window_starts",
    "write_label_map",
]
