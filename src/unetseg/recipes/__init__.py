"""The BraTS 2020 recipes: a configuration file in, a trained and evaluated model out.

The glue above the building blocks (the top layer, with the command line). A recipe
reads a typed configuration (:class:`RecipeConfig`, from TOML: see
``examples/brats2020/configs``), finds or generates the data, preprocesses it, trains
with the :class:`~unetseg.training.Trainer`, predicts the held-out cases with the
:class:`~unetseg.inference.Predictor` (2D and 3D alike), evaluates them the BraTS way
and draws pictures.

- ``unetseg.recipes.config``: the configuration, its sections and checks;
- ``unetseg.recipes.pieces``: data, preprocessing, training and prediction, each
  from the section it needs;
- ``unetseg.recipes.run``: :func:`run`, the whole recipe;
- ``unetseg.recipes.postprocessing``: the post-processing chosen on validation;
- ``unetseg.recipes.report``: evaluation, figures and the summary.

Example:
    ``run(load_config("quick.toml", ["train.epochs=2"]), "runs/quick")``
"""

from unetseg.inference import evaluate_predictions
from unetseg.recipes.config import (
    AugmentSection,
    DataSection,
    InferenceSection,
    ModelSection,
    RecipeConfig,
    RecipeSection,
    ReportSection,
    TrainSection,
    apply_overrides,
    load_config,
)
from unetseg.recipes.pieces import (
    augmentation,
    build_predictor,
    build_trainer,
    case_preprocessing,
    describe_dataset,
    find_cases,
    find_or_generate,
    preprocessing,
    slice_preprocessing,
    split_cases,
    training_data,
    window_size_warning,
)
from unetseg.recipes.postprocessing import PostprocessingChoice, choose_postprocessing
from unetseg.recipes.report import RecipeResult, report, worst_first
from unetseg.recipes.run import run

__all__ = [
    "AugmentSection",
    "DataSection",
    "InferenceSection",
    "ModelSection",
    "PostprocessingChoice",
    "RecipeConfig",
    "RecipeResult",
    "RecipeSection",
    "ReportSection",
    "TrainSection",
    "apply_overrides",
    "augmentation",
    "build_predictor",
    "build_trainer",
    "case_preprocessing",
    "choose_postprocessing",
    "describe_dataset",
    "evaluate_predictions",
    "find_cases",
    "find_or_generate",
    "load_config",
    "preprocessing",
    "report",
    "run",
    "slice_preprocessing",
    "split_cases",
    "training_data",
    "window_size_warning",
    "worst_first",
]
