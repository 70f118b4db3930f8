"""Data parallelism over several devices or machines, one argument for every backend.

``distribute="data_parallel"`` splits each batch over the devices of this machine and
averages the gradients: ``tf.distribute.MirroredStrategy`` on TensorFlow,
``keras.distribution.DataParallel`` on JAX. ``distribute="multi_worker"`` does the same
over several processes (machines), each feeding its own batches: on JAX through the
JAX coordinator (``jax.distributed.initialize``, configured by the
``KERAS_DISTRIBUTION_*`` environment variables that ``keras.distribution.initialize``
reads) and ``DataParallel`` over every process's devices. The model must be created
inside :meth:`DistributionContext.scope` so its weights live on every device.

TensorFlow's ``MultiWorkerMirroredStrategy`` is not offered: Keras 3's ``model.fit``
cannot train under it (measured with Keras 3.15 and TensorFlow 2.21 — the symbolic
build reduces a tuple of per-replica batches, and every step reduces the scalar loss
along axis 0; both raise).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import keras

from unetseg.errors import ConfigError

__all__ = ["MULTI_WORKER_VARIABLES", "DistributionContext"]

#: The environment variables that place a process in a multi-worker run (read by
#: ``keras.distribution.initialize``): the coordinator's ``host:port`` (the chief's,
#: process 0), the number of processes and this process's index.
MULTI_WORKER_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


#: How long a worker that has finished waits, at exit, for the others (seconds).
SHUTDOWN_TIMEOUT_S = 6 * 3600


def _worker_settings() -> tuple[str, int, int]:
    """The coordinator address, process count and index from the environment."""
    missing = [name for name in MULTI_WORKER_VARIABLES if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"distribute='multi_worker' needs {', '.join(missing)} in the environment "
            "of every worker: the chief's host:port, the number of processes and this "
            "process's index (see the Training guide for a launch example)."
        )
    addresses, count, index = (os.environ[name] for name in MULTI_WORKER_VARIABLES)
    try:
        processes, process = int(count), int(index)
    except ValueError:
        raise ConfigError(
            f"KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID must be "
            f"integers, got {count!r} and {index!r}."
        ) from None
    if processes < 1 or not 0 <= process < processes:
        raise ConfigError(
            f"KERAS_DISTRIBUTION_PROCESS_ID must be in [0, {processes}) for "
            f"KERAS_DISTRIBUTION_NUM_PROCESSES={processes}, got {process}."
        )
    # Like keras.distribution.initialize: a list of every worker's address starts with
    # the chief's, the coordinator.
    return addresses.split(",")[0].strip(), processes, process


class DistributionContext:
    """Where a model trains: one device, data parallel over ``devices``, or over workers.

    Args:
        mode: ``None`` (the default device), ``"data_parallel"`` (this machine's
            devices) or ``"multi_worker"`` (every device of every process; JAX).
        devices: Device names for data parallelism (TensorFlow: ``"/cpu:0"``, JAX:
            ``"cpu:0"``); by default every GPU, or every CPU device when there is none.
            Not used by ``"multi_worker"``, which takes every process's devices.

    Attributes:
        worker_index: This process's index among the workers (0 unless multi-worker).
        num_workers: The number of worker processes (1 unless multi-worker).

    Raises:
        ConfigError: For an unknown mode, a backend without that mode here, fewer
            than two devices for ``"data_parallel"``, or a multi-worker process whose
            ``KERAS_DISTRIBUTION_*`` variables are missing or invalid.
    """

    def __init__(self, mode: str | None = None, devices: Sequence[Any] | None = None) -> None:
        if mode not in (None, "data_parallel", "multi_worker"):
            raise ConfigError(
                f"distribute must be None, 'data_parallel' or 'multi_worker', got {mode!r}."
            )
        self.mode = mode
        self.backend = keras.backend.backend()
        self._strategy: Any = None
        self.devices: list[str] = []
        self.worker_index, self.num_workers = 0, 1
        if mode is None:
            return
        if mode == "multi_worker":
            self._start_workers()
        elif self.backend == "tensorflow":
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

    def _start_workers(self) -> None:
        """Join the JAX processes of a multi-worker run; data parallel over all devices."""
        if self.backend != "jax":
            raise ConfigError(
                f"distribute='multi_worker' runs on the JAX backend (KERAS_BACKEND=jax), not on "
                f"{self.backend!r}: Keras 3's model.fit does not train under TensorFlow's "
                "MultiWorkerMirroredStrategy. On one machine, use 'data_parallel'."
            )
        import jax

        if not jax.distributed.is_initialized():  # not joined yet in this process
            coordinator, processes, index = _worker_settings()
            try:
                # keras.distribution.initialize does the same, but it cannot lengthen the
                # wait at exit: a worker done with training waits there while the chief
                # predicts and evaluates the held-out cases.
                jax.distributed.initialize(
                    coordinator_address=coordinator,
                    num_processes=processes,
                    process_id=index,
                    shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S,
                )
            except (RuntimeError, ValueError) as error:
                settings = ", ".join(f"{n}={os.environ[n]!r}" for n in MULTI_WORKER_VARIABLES)
                raise ConfigError(
                    f"This worker could not join the multi-worker run ({settings}): {error}"
                ) from error
        self.worker_index, self.num_workers = jax.process_index(), jax.process_count()
        self.devices = [str(d) for d in keras.distribution.list_devices()]
        self._strategy = keras.distribution.DataParallel(devices=self.devices)
        # Each worker feeds its own batches (its own draws of patches); Keras must not
        # expect one dataset to cut into per-worker shards.
        self._strategy.auto_shard_dataset = False

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files (worker 0; always, on one process)."""
        return self.worker_index == 0

    def from_chief(self, value: int) -> int:
        """The chief's ``value`` on every worker (an integer: a decision all must share).

        Every worker must call it at the same point. On one process, ``value`` itself.

        Args:
            value: This worker's value; only the chief's is kept.
        """
        if self.num_workers == 1:
            return int(value)
        import numpy as np
        from jax.experimental import multihost_utils

        shared = multihost_utils.broadcast_one_to_all(np.asarray(int(value), dtype=np.int32))
        return int(shared)

    def all_succeeded(self, succeeded: bool) -> bool:
        """Whether every worker succeeded: each says whether it did; all get the answer.

        Every worker must call it at the same point, so that one that failed stops the
        others instead of leaving them waiting. On one process, ``succeeded`` itself.

        Args:
            succeeded: Whether this worker's part went well.
        """
        if self.num_workers == 1:
            return bool(succeeded)
        import numpy as np
        from jax.experimental import multihost_utils

        every = multihost_utils.process_allgather(np.asarray(int(bool(succeeded)), np.int32))
        return bool(np.all(np.asarray(every)))

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
        """The mode, device and worker counts, as stored in a run's ``config.json``."""
        described: dict[str, Any] = {"mode": self.mode, "devices": len(self.devices)}
        if self.mode == "multi_worker":
            described["workers"] = self.num_workers
        return described

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
