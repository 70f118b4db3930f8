"""Segmentation losses for Keras, written with ``keras.ops`` so they run on every backend.

Every loss is a registered, serialisable :class:`keras.losses.Loss`: create one by
name with ``LOSSES.create("dice_ce", activation="softmax")``, and a model compiled
with it saves and loads without ``custom_objects``. Losses take logits by default
(``from_logits=True``). See ``unetseg.losses.base`` for the shape conventions.
"""

from unetseg.losses.base import ACTIVATIONS, LOSSES, SegmentationLoss, build_loss
from unetseg.losses.combined import Combined, DiceCE, DiceFocal
from unetseg.losses.cross_entropy import CrossEntropy, Focal
from unetseg.losses.deep_supervision import (
    DeepSupervision,
    HeadLoss,
    deep_supervision_weights,
    downsample_target,
)
from unetseg.losses.dice import Dice, GeneralizedDice
from unetseg.losses.tversky import FocalTversky, Tversky

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Combined",
    "CrossEntropy",
    "DeepSupervision",
    "Dice",
    "DiceCE",
    "DiceFocal",
    "Focal",
    "FocalTversky",
    "GeneralizedDice",
    "HeadLoss",
    "SegmentationLoss",
    "Tversky",
    "build_loss",
    "deep_supervision_weights",
    "downsample_target",
]
