"""What a segmentation network's outputs mean: one :class:`~unetseg.task.Task` description.

A network's output channels are either

- **regions** — independent, possibly overlapping masks, one sigmoid per channel
  (BraTS: whole tumour, tumour core and enhancing tumour, each a set of labels); or
- **classes** — mutually exclusive labels, one softmax over the channels, channel 0
  the background.

Everything that depends on that choice derives from the task, so nothing below the
recipes assumes BraTS: the activation of the loss, the metrics and the inferer
(:attr:`Task.activation`), how a label map becomes a training target
(:meth:`Task.encode`), which channels validation scores and what they are called
(:attr:`Task.scored_channels`, :attr:`Task.scored_names`), and how probabilities
become a label map again (:meth:`Task.decode`).

Tasks are registered in :data:`~unetseg.registries.TASKS` by name:

==================  =======  =======================================================
name                kind     channels
==================  =======  =======================================================
``brats_regions``   regions  WT (labels 1, 2, 4), TC (1, 4), ET (4); painted 2, 1, 4
``brats_classes``   classes  background (0), NCR (1), ED (2), ET (4)
==================  =======  =======================================================

Example:
    >>> task = Task.regions("lesion", {"lesion": [1]})
    >>> task.activation, task.out_channels
    ('sigmoid', 1)
    >>> BRATS_REGIONS.decode(np.array([[0.9, 0.8, 0.7], [0.9, 0.2, 0.1]])).tolist()
    [4, 2]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.regions import BRATS_REGIONS as _BRATS_REGION_LABELS
from unetseg.regions import integer_label_map
from unetseg.registries import TASKS

__all__ = ["BRATS_CLASSES", "BRATS_REGIONS", "KINDS", "Task", "resolve_task"]

#: The kinds of task and the output activation each implies.
KINDS: dict[str, str] = {"regions": "sigmoid", "classes": "softmax"}


@dataclasses.dataclass(frozen=True)
class Task:
    """What each output channel of a network means.

    Build one with :meth:`regions` or :meth:`classes`; the constructor checks the
    fields.

    Args:
        name: A name for messages and files.
        kind: ``"regions"`` (independent sigmoid channels) or ``"classes"``
            (exclusive softmax channels, channel 0 the background).
        channel_names: One name per output channel.
        channel_labels: The labels each channel stands for: a region's labels, or a
            class's single label (the background's is 0).
        paint: Regions only: the label written where each region is the innermost,
            applied in channel order so that later regions win (nnU-Net's
            ``regions_class_order``).

    Raises:
        ConfigError: If the fields do not describe a task (the message says which).
    """

    name: str
    kind: str
    channel_names: tuple[str, ...]
    channel_labels: tuple[tuple[int, ...], ...]
    paint: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"Task {self.name!r}: kind must be 'regions' or 'classes', got {self.kind!r}."
            )
        names = tuple(str(n) for n in self.channel_names)
        labels = tuple(tuple(int(v) for v in group) for group in self.channel_labels)
        object.__setattr__(self, "channel_names", names)
        object.__setattr__(self, "channel_labels", labels)
        if not names or len(names) != len(labels):
            raise ConfigError(
                f"Task {self.name!r} needs one label group per channel name, got "
                f"{len(names)} names and {len(labels)} groups."
            )
        if len({n.lower() for n in names}) != len(names):
            raise ConfigError(f"Task {self.name!r}: channel names {list(names)} repeat.")
        if any(not group or min(group) < 0 for group in labels):
            raise ConfigError(
                f"Task {self.name!r}: every channel needs labels >= 0, got {list(labels)}."
            )
        if self.kind == "classes":
            self._check_classes(labels)
        else:
            self._check_regions(labels)

    def _check_classes(self, labels: tuple[tuple[int, ...], ...]) -> None:
        if any(len(group) != 1 for group in labels) or labels[0] != (0,):
            raise ConfigError(
                f"Task {self.name!r}: classes need one label each, the first the background "
                f"(label 0); got {list(labels)}."
            )
        values = [group[0] for group in labels]
        if len(set(values)) != len(values) or len(values) < 2:
            raise ConfigError(
                f"Task {self.name!r}: classes need at least two different labels, got {values}."
            )
        if self.paint is not None:
            raise ConfigError(f"Task {self.name!r}: paint is for regions, not classes.")

    def _check_regions(self, labels: tuple[tuple[int, ...], ...]) -> None:
        if any(0 in group for group in labels):
            raise ConfigError(
                f"Task {self.name!r}: label 0 is the background and cannot be in a region."
            )
        paint = self.paint if self.paint is not None else _default_paint(labels, self.name)
        paint = tuple(int(p) for p in paint)
        object.__setattr__(self, "paint", paint)
        if len(paint) != len(labels) or any(p not in g for p, g in zip(paint, labels, strict=True)):
            raise ConfigError(
                f"Task {self.name!r}: paint needs one label per region, each a label of its "
                f"region; got {list(paint)} for regions {list(labels)}."
            )

    # -- construction ----------------------------------------------------------------

    @classmethod
    def regions(
        cls, name: str, regions: Mapping[str, Sequence[int]], paint: Sequence[int] | None = None
    ) -> Task:
        """A task of independent region channels (sigmoid), one per ``regions`` entry.

        Args:
            name: The task's name.
            regions: Channel name → the labels the region contains, in channel order.
            paint: The label written for each region when decoding (see the class);
                by default each region's smallest label that no later region contains.

        Example:
            >>> Task.regions("brats", {"WT": [1, 2, 4], "TC": [1, 4], "ET": [4]}).paint
            (2, 1, 4)
        """
        return cls(
            name, "regions", tuple(regions), tuple(tuple(v) for v in regions.values()), paint
        )

    @classmethod
    def classes(cls, name: str, classes: Mapping[str, int]) -> Task:
        """A task of exclusive classes (softmax): channel name → label, background first.

        Example:
            >>> Task.classes("tissue", {"background": 0, "tumour": 1}).scored_names
            ('tumour',)
        """
        return cls(name, "classes", tuple(classes), tuple((int(v),) for v in classes.values()))

    # -- what derives from it ----------------------------------------------------------

    @property
    def activation(self) -> str:
        """``"sigmoid"`` for regions, ``"softmax"`` for classes."""
        return KINDS[self.kind]

    @property
    def out_channels(self) -> int:
        """The number of output channels a network needs for this task."""
        return len(self.channel_names)

    @property
    def scored_channels(self) -> tuple[int, ...]:
        """The channels that metrics score, every region or every class but background."""
        first = 1 if self.kind == "classes" else 0
        return tuple(range(first, self.out_channels))

    @property
    def scored_names(self) -> tuple[str, ...]:
        """The names of :attr:`scored_channels`."""
        return tuple(self.channel_names[c] for c in self.scored_channels)

    @property
    def labels(self) -> tuple[int, ...]:
        """Every label a label map of this task may hold, background 0 included."""
        return tuple(sorted({0, *(v for group in self.channel_labels for v in group)}))

    def check_label_map(self, label_map: Any, *, where: str = "The label map") -> np.ndarray:
        """Validate a label map; return it as integers without a trailing axis of 1.

        Raises:
            DataError: If it is not integer-valued or holds a label outside :attr:`labels`.
        """
        return integer_label_map(
            label_map, self.labels, where=where, owner=f"the task {self.name!r} knows"
        )

    def encode(self, label_map: Any, *, where: str = "The label map") -> np.ndarray:
        """A label map → the training target: ``uint8`` ``(*spatial, out_channels)``.

        Regions give one mask per region, classes a one-hot encoding.

        Example:
            >>> BRATS_REGIONS.encode(np.array([0, 1, 2, 4])).T.tolist()
            [[0, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1]]
        """
        array = self.check_label_map(label_map, where=where)
        masks = []
        for group in self.channel_labels:
            mask = array == group[0]
            for value in group[1:]:
                mask |= array == value
            masks.append(mask)
        return np.stack(masks, axis=-1).astype(np.uint8)

    def decode(self, probabilities: Any, threshold: float = 0.5) -> np.ndarray:
        """Probabilities ``(*spatial, out_channels)`` → a ``uint8`` label map ``(*spatial)``.

        Regions: each channel above ``threshold``, painted in channel order (inner
        regions last, so they win where thresholded regions do not nest). Classes: the
        label of the most probable channel.

        Raises:
            DataError: If the last axis is not :attr:`out_channels` long.
            ConfigError: If ``threshold`` is outside [0, 1].
        """
        array = np.asarray(probabilities)
        if array.ndim < 2 or array.shape[-1] != self.out_channels:
            raise DataError(
                f"The task {self.name!r} decodes {self.out_channels} channels "
                f"({', '.join(self.channel_names)}), got an array of shape {array.shape}."
            )
        labels = np.zeros(array.shape[:-1], dtype=np.uint8)
        if self.kind == "classes":
            lookup = np.array([group[0] for group in self.channel_labels], dtype=np.uint8)
            return lookup[np.argmax(array, axis=-1)]
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {threshold}.")
        assert self.paint is not None
        for channel, value in enumerate(self.paint):
            labels[array[..., channel] > threshold] = value
        return labels

    def masks(self, outputs: Any, threshold: float = 0.5) -> list[np.ndarray]:
        """Boolean masks of the scored channels from outputs or targets ``(*spatial, C)``.

        Regions: each channel above ``threshold``. Classes: where the channel is the
        most probable (for a one-hot target, where it is 1).
        """
        array = np.asarray(outputs)
        if self.kind == "classes":
            winner = np.argmax(array, axis=-1)
            return [winner == c for c in self.scored_channels]
        return [array[..., c] > threshold for c in self.scored_channels]

    # -- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON-compatible values.

        Example:
            >>> Task.from_dict(BRATS_CLASSES.to_dict()) == BRATS_CLASSES
            True
        """
        return {
            "name": self.name,
            "kind": self.kind,
            "channel_names": list(self.channel_names),
            "channel_labels": [list(group) for group in self.channel_labels],
            "paint": list(self.paint) if self.paint is not None else None,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Task:
        """Rebuild a task from :meth:`to_dict`; unknown or missing keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        missing = sorted({"name", "kind", "channel_names", "channel_labels"} - set(values))
        if unknown or missing:
            raise ConfigError(
                f"A task description has unknown keys {unknown} or lacks {missing}; the keys "
                f"are {sorted(known)}."
            )
        return cls(**dict(values))


def _default_paint(labels: tuple[tuple[int, ...], ...], name: str) -> tuple[int, ...]:
    paint = []
    for index, group in enumerate(labels):
        later = {v for other in labels[index + 1 :] for v in other}
        own = sorted(set(group) - later)
        if not own:
            raise ConfigError(
                f"Task {name!r}: every label of region {index} is also in a later region, so "
                "there is no label to paint it with; pass paint=[...] explicitly."
            )
        paint.append(own[0])
    return tuple(paint)


def resolve_task(spec: Task | str | Mapping[str, Any]) -> Task:
    """A :class:`Task` from itself, a registered name or a :meth:`Task.to_dict` mapping.

    Args:
        spec: A :class:`Task` (returned as is), a name registered in
            :data:`~unetseg.registries.TASKS` or a mapping as :meth:`Task.to_dict` writes it.

    Raises:
        UnknownNameError: For an unknown name (with close matches).
        ConfigError: For anything else.

    Example:
        >>> resolve_task("BraTS_regions").scored_names
        ('WT', 'TC', 'ET')
    """
    if isinstance(spec, Task):
        return spec
    if isinstance(spec, str):
        task = TASKS.get(spec)
        if not isinstance(task, Task):
            raise ConfigError(f"The task registered as {spec!r} is not a Task: {task!r}.")
        return task
    if isinstance(spec, Mapping):
        return Task.from_dict(spec)
    raise ConfigError(
        f"A task is a Task, a name in TASKS ({', '.join(TASKS.names())}) or a task "
        f"description mapping; got {spec!r}."
    )


#: BraTS as regions (the challenge's evaluation), WT, TC, ET with sigmoid outputs.
BRATS_REGIONS: Task = TASKS.register(
    "brats_regions", Task.regions("brats_regions", _BRATS_REGION_LABELS, paint=(2, 1, 4))
)

#: BraTS as exclusive classes (the original notebook), background, NCR, ED, ET.
BRATS_CLASSES: Task = TASKS.register(
    "brats_classes",
    Task.classes("brats_classes", {"background": 0, "NCR": 1, "ED": 2, "ET": 4}),
)
