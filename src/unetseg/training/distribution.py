"""Data parallelism over several devices, one argument for every backend.

``distribute="data_parallel"`` splits each batch over the devices and averages the
gradients: ``tf.distribute.MirroredStrategy`` on TensorFlow,
``keras.distribution.DataParallel`` on JAX. The model must be created inside
:meth:`DistributionContext.scope` so its weights live on every device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import keras

from unetseg.errors import ConfigError

__all__ = ["DistributionContext"]


class DistributionContext:
    """Where a model trains: one device, or data parallel over ``devices``.

    Args:
        mode: ``None`` (the default device) or ``"data_parallel"``.
        devices: Device names for data parallelism (TensorFlow: ``"/cpu:0"``, JAX:
            ``"cpu:0"``); by default every GPU, or every CPU device when there is none.

    Raises:
        ConfigError: For an unknown mode, a backend without data parallelism here
            (PyTorch) or fewer than two devices.
    """

    def __init__(self, mode: str | None = None, devices: Sequence[Any] | None = None) -> None:
        if mode not in (None, "data_parallel"):
            raise ConfigError(f"distribute must be None or 'data_parallel', got {mode!r}.")
        self.mode = mode
        self.backend = keras.backend.backend()
        self._strategy: Any = None
        self.devices: list[str] = []
        if mode is None:
            return
        if self.backend == "tensorflow":
            import tensorflow as tf

            found = devices or [d.name for d in tf.config.list_logical_devices("GPU")]
            found = found or [d.name for d in tf.config.list_logical_devices("CPU")]
            self.devices = [str(d) for d in found]
            self._check_count()
            self._strategy = tf.distribute.MirroredStrategy(self.devices)
        elif self.backend == "jax":
            found = devices or keras.distribution.list_devices()  # the default platform's
            self.devices = [str(d) for d in found]
            self._check_count()
            self._strategy = keras.distribution.DataParallel(devices=self.devices)
        else:
            raise ConfigError(
                f"distribute='data_parallel' is supported on the TensorFlow and JAX backends, "
                f"not on {self.backend!r}."
            )

    def _check_count(self) -> None:
        if len(self.devices) < 2:
            raise ConfigError(
                f"distribute='data_parallel' needs at least two devices; found {self.devices}. "
                "(On a CPU, TensorFlow can split it into logical devices and JAX can be started "
                "with XLA_FLAGS=--xla_force_host_platform_device_count=2.)"
            )

    @property
    def enabled(self) -> bool:
        return self.mode is not None

    @property
    def replicas(self) -> int:
        return max(len(self.devices), 1)

    def describe(self) -> dict[str, Any]:
        """The mode and device count, as stored in a run's ``config.json``."""
        return {"mode": self.mode, "devices": len(self.devices)}

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Create and train models inside this: on every device when distributed."""
        if self._strategy is None:
            yield
        elif self.backend == "tensorflow":
            with self._strategy.scope():
                yield
        else:
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(self._strategy)
            try:
                yield
            finally:
                keras.distribution.set_distribution(previous)
