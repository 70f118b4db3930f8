"""A training run in a process of its own, for the resume and multi-device tests.

    python run_training.py CACHE WORK [--kill-epoch E] [--distribute | --multi-worker]
                           [--epochs N] [--val-blending numpy|device]

Prints the history as JSON on its last line. ``--kill-epoch E`` kills the process
(SIGKILL) in the middle of epoch E (0-based), as a crash or a pre-empted job would.
``--multi-worker`` joins the multi-worker run the ``KERAS_DISTRIBUTION_*`` variables
describe.
"""

from __future__ import annotations

import argparse
import json
import os
import signal

import keras

from conftest import preprocessing  # the script's folder is on sys.path
from unetseg.data import PatchDataset, PreprocessedCache
from unetseg.networks import UNetConfig
from unetseg.training import Trainer


class KillMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.kill_epoch, self.epoch = epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.kill_epoch and batch == 0:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cache")
    parser.add_argument("work")
    parser.add_argument("--kill-epoch", type=int, default=None)
    parser.add_argument("--distribute", action="store_true")
    parser.add_argument("--multi-worker", action="store_true")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--val-blending", default="auto")
    args = parser.parse_args()
    if args.distribute and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    cache = PreprocessedCache(args.cache, preprocessing())
    cases = [cache.case(f"BraTS20_Training_{i:03d}") for i in (1, 2, 3)]
    train = PatchDataset(cases[:2], (16, 16, 16), batch_size=4, steps_per_epoch=2, seed=1)
    config = UNetConfig(
        spatial_dims=3,
        in_channels=4,
        out_channels=3,
        features=(4, 8),
        norm="instance",
        deep_supervision=True,
    )
    trainer = Trainer(
        config,
        work_dir=args.work,
        task="brats_regions",
        loss="dice_ce",
        distribute="data_parallel"
        if args.distribute
        else "multi_worker"
        if args.multi_worker
        else None,
        val_blending=args.val_blending,
        verbose=0,
        seed=5,
    )
    callbacks = [KillMidEpoch(args.kill_epoch)] if args.kill_epoch is not None else []
    history = trainer.fit(train, cases[2:], epochs=args.epochs, callbacks=callbacks)
    print(json.dumps(history))


if __name__ == "__main__":
    main()
