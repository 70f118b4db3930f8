"""The ``unetseg`` command line: ``synth``, ``train``, ``predict``, ``evaluate``, ``export``,
``info``.

Every subcommand has ``--help``. A user mistake (a missing file, a bad setting) ends
with one clear line on stderr and exit code 2; ``--debug`` shows the traceback
instead. Keras and its backend are imported only by the subcommands that run a
network (``train``, ``predict``), after their paths are checked, without the backend's
start-up lines; ``synth``, ``evaluate`` and ``info --no-devices`` never start one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from unetseg.errors import UnetsegError

if TYPE_CHECKING:
    from unetseg.recipes import RecipeConfig

__all__ = ["main"]

# The shipped recipes: inside the wheel (``unetseg/recipes``), or in the source tree.
RECIPE_FOLDERS = (
    Path(__file__).resolve().parent / "recipes",
    Path(__file__).resolve().parents[2] / "examples" / "brats2020" / "configs",
)


# What TensorFlow and its libraries print on the process's stderr while starting, even
# with TF_CPP_MIN_LOG_LEVEL set (absl's "before InitializeLog" notice, CUDA probes).
_NATIVE_START_UP = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} \d\d:\d\d:\d\d"
    r"|To enable the following instructions|.*oneDNN custom operations|.*TF-TRT Warning)"
)


@contextlib.contextmanager
def _quiet_native_start_up() -> Iterator[None]:
    """Hide the start-up lines native libraries write to file descriptor 2 in the block;
    pass on every other line (a Python warning, an error)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode("utf-8", "replace").splitlines()
                if not _NATIVE_START_UP.match(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _start_keras() -> None:
    """Import Keras (and start its backend) without the backend's start-up lines."""
    try:
        with _quiet_native_start_up():
            import keras  # noqa: F401
    except (ImportError, ValueError) as error:  # an unknown or broken backend
        from unetseg.backends import BACKENDS, configured_backend, installed_backends

        if not installed_backends():
            extras = ", ".join(f'"unetseg[{extra}]"' for extra in BACKENDS.values())
            raise UnetsegError(
                f"No Keras backend is installed; install one with pip: {extras}."
            ) from error
        raise UnetsegError(
            f"Keras cannot start its backend {configured_backend()!r} ({error}); set "
            "KERAS_BACKEND to tensorflow, jax or torch ('unetseg info --no-devices' shows "
            "what is installed)."
        ) from error


def _recipe_path(name: str) -> Path:
    """A recipe file, or the name of one shipped with unetseg (``quick``, ...)."""
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        return path
    for folder in RECIPE_FOLDERS:
        if (folder / f"{name}.toml").is_file():
            return folder / f"{name}.toml"
    shipped = sorted({p.stem for f in RECIPE_FOLDERS if f.is_dir() for p in f.glob("*.toml")})
    raise UnetsegError(f"No recipe file {name!r}; the shipped recipes are {', '.join(shipped)}.")


def _synth(args: argparse.Namespace) -> int:
    from unetseg.data import write_synthetic_brats

    shape = tuple(args.shape)
    if len(shape) != 3:
        raise UnetsegError(f"--shape needs three sizes, got {args.shape}.")
    folders = write_synthetic_brats(
        args.output, args.cases, shape=shape, seed=args.seed, validation=args.validation
    )
    print(f"Wrote {len(folders)} cases of {shape} voxels to {args.output}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from unetseg.recipes import load_config, run

    config = load_config(_recipe_path(args.recipe), args.set or [])
    work_dir = args.work_dir or Path("runs") / config.recipe.name
    run(config, work_dir, data=args.data, force=args.force)
    return 0


def _load_recipe_json(work_dir: Path) -> RecipeConfig:
    import json

    from unetseg.recipes import RecipeConfig

    path = work_dir / "recipe.json"
    if not path.is_file():
        raise UnetsegError(f"{work_dir} is not a recipe run: it has no recipe.json.")
    return RecipeConfig.from_dict(json.loads(path.read_text(encoding="utf-8")), where=str(path))


def _predict(args: argparse.Namespace) -> int:
    from unetseg.data import shard_cases
    from unetseg.inference.manifest import MANIFEST_NAME
    from unetseg.recipes import apply_overrides, build_predictor, find_cases, window_size_warning
    from unetseg.recipes.postprocessing import POSTPROCESSING_FILE, PostprocessingChoice

    runs = [Path(run) for run in args.run]
    if args.model and len(runs) > 1:
        raise UnetsegError("--model replaces the checkpoint of one run; give one run with it.")
    configs = [apply_overrides(_load_recipe_json(run), args.set or []) for run in runs]
    config = configs[0]
    for run, other in zip(runs[1:], configs[1:], strict=True):
        _check_same_inputs(runs[0], config, run, other)
    if warning := window_size_warning(config):
        print(f"Warning: {warning}", file=sys.stderr)
    if args.model:
        models = [Path(args.model)]
    else:
        models = [run / f"{args.checkpoint}.keras" for run in runs]
    records = find_cases(args.cases, require_labels=False)
    manifest = MANIFEST_NAME
    if args.shard is not None:
        index, count = args.shard
        records = shard_cases(records, index, count)
        manifest = f"predictions.shard-{index}-of-{count}.json"
        print(f"Shard {index} of {count}: {len(records)} cases")
    choice = None
    chosen = runs[0] / POSTPROCESSING_FILE
    if len(runs) == 1 and config.inference.choose_postprocessing and chosen.is_file():
        choice = PostprocessingChoice.read(chosen)
    predictor = build_predictor(config, models, choice)
    # Where windows are blended does not change the result (equal to 1e-5): not recorded.
    inference = {k: v for k, v in config.inference.to_dict().items() if k != "blending"}
    provenance = {
        "inference": inference,
        "spacing": config.data.spacing,
        "postprocessing": choice.to_dict() if choice is not None else None,
    }
    paths = predictor.predict(
        records, args.output, overwrite=args.overwrite, provenance=provenance, manifest=manifest
    )
    print(f"{len(paths)} predictions in {args.output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import numpy as np

    from unetseg.inference import export_model, exported_difference, load_model

    config = _load_recipe_json(args.run)
    source = Path(args.model) if args.model else args.run / f"{args.checkpoint}.keras"
    model = load_model(source)
    path = export_model(model, args.output, format=args.format, overwrite=args.overwrite)
    # The exported model, run by onnxruntime or TensorFlow, against Keras on one window.
    window = tuple(config.window or config.train.patch_size)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, *window, config.network.in_channels)).astype(np.float32)
    difference = exported_difference(path, model, image)
    print(
        f"Exported {source} to {path} ({args.format}, first output, dynamic batch and size); "
        f"largest difference to Keras on a {'×'.join(map(str, window))} window: "
        f"{difference:.2e}"
    )
    if difference > args.tolerance:
        raise UnetsegError(
            f"The exported model differs from the Keras model by {difference:.2e} (more than "
            f"--tolerance {args.tolerance:g}) on a test window; it was written to {path}, but "
            "do not deploy it without finding out why."
        )
    return 0


def _check_same_inputs(first: Path, config: RecipeConfig, run: Path, other: RecipeConfig) -> None:
    """Runs ensembled together must see their cases the same way."""
    for name, value, theirs in (
        ("model.task", config.model.task, other.model.task),
        ("data.spacing", config.data.spacing, other.data.spacing),
        ("inference window", config.window, other.window),
        ("network input", config.network.in_channels, other.network.in_channels),
        ("network dimensions", config.spatial_dims, other.spatial_dims),
    ):
        if value != theirs:
            raise UnetsegError(
                f"{run} cannot be ensembled with {first}: its {name} is {theirs!r}, not {value!r}."
            )


def _evaluate(args: argparse.Namespace) -> int:
    from unetseg.data import find_brats_cases, find_dataset
    from unetseg.inference import evaluate_predictions

    task = None
    if (Path(args.truth) / "dataset.json").is_file():  # nnU-Net raw or Decathlon
        dataset = find_dataset(args.truth, require_labels=True)
        records, task = dataset.records, dataset.task
    else:
        records = find_brats_cases(args.truth, require_labels=True)
    if args.cases:
        known = {r["id"] for r in records}
        if unknown := [case for case in args.cases if case not in known]:
            raise UnetsegError(
                f"No case {', '.join(map(repr, unknown))} in {args.truth} "
                f"(it has {len(known)} cases with segmentations)."
            )
        wanted = set(args.cases)
        records = [r for r in records if r["id"] in wanted]
    else:  # the cases that were predicted
        predicted = {
            p.name.removesuffix(".nii.gz") for p in Path(args.predictions).glob("*.nii.gz")
        }
        records = [r for r in records if r["id"] in predicted]
    if not records:
        raise UnetsegError(f"No prediction in {args.predictions} matches a case in {args.truth}.")
    evaluation = evaluate_predictions(args.predictions, records, task=task)
    evaluation.to_csv(args.output)
    print(evaluation.format_summary())
    print(f"Per-case metrics in {args.output}")
    return 0


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse missing inputs and outputs of the wrong kind, naming them, before any work."""
    inputs = {  # (the name in messages, the argument)
        "train": [("--data", "data")],
        "predict": [("RUN", "run"), ("CASES", "cases"), ("--model", "model")],
        "evaluate": [("PREDICTIONS", "predictions"), ("TRUTH", "truth")],
        "export": [("RUN", "run"), ("--model", "model")],
    }[args.command]
    for name, attribute in inputs:
        values = getattr(args, attribute)
        for value in values if isinstance(values, list) else [values]:
            if value is not None and not Path(value).exists():
                raise UnetsegError(f"{name} {value} does not exist.")
    option, attribute = {"train": ("work-dir", "work_dir"), "predict": ("output", "output")}.get(
        args.command, ("", "")
    )
    folder = getattr(args, attribute, None)
    if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
        raise UnetsegError(f"{folder} is a file; the {option} must be a folder.")
    if args.command == "evaluate" and Path(args.output).is_dir():
        raise UnetsegError(f"--output {args.output} is a folder; give the CSV file to write.")


def _info(args: argparse.Namespace) -> int:
    from unetseg.info import environment_report, format_report

    print(format_report(environment_report(devices=not args.no_devices)))
    return 0


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (a path may
    hold any of them), so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line, as every other error of the
    command line (argparse prints the whole usage first)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def _shard(text: str) -> tuple[int, int]:
    """``I/N`` → ``(I, N)`` with ``0 <= I < N`` (an argparse type)."""
    index, slash, count = text.partition("/")
    try:
        if not slash:
            raise ValueError
        shard = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 0/4, got {text!r}") from None
    if not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= I < N, got {text!r}")
    return shard


def _add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``unetseg`` (also used to document the command line)."""
    parser = _Parser(
        prog="unetseg",
        description="U-Net segmentation of brain tumours (BraTS) with Keras 3.",
        epilog="Run 'unetseg COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    synth = commands.add_parser(
        "synth",
        help="generate BraTS-like cases",
        description="Write generated BraTS-like cases (4 modalities, labels 0/1/2/4) in the "
        "official BraTS 2020 folder layout.",
    )
    synth.add_argument("output", type=Path, help="the folder to write")
    synth.add_argument("--cases", type=int, default=10, help="how many cases (default 10)")
    synth.add_argument(
        "--shape", type=int, nargs=3, default=[96, 96, 64], help="volume shape (default 96 96 64)"
    )
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--validation", action="store_true", help="write validation cases without labels"
    )
    synth.set_defaults(handler=_synth)

    train = commands.add_parser(
        "train",
        help="train, evaluate and draw a recipe",
        description="Run a recipe: train on BraTS (or generated) data, predict the held-out "
        "cases, evaluate them (Dice, HD95, sensitivity, specificity per region) and draw "
        "figures. An interrupted run continues when started again with the same work dir.",
    )
    train.add_argument(
        "recipe",
        nargs="?",
        default="quick",
        help="a recipe file or the name of a shipped one: quick (default), 3d_lowres, "
        "3d_fullres, seed_2d",
    )
    train.add_argument(
        "--data",
        help="a BraTS 2020/2021/2023 training folder, or an nnU-Net raw or Decathlon dataset "
        "(default: generated cases)",
    )
    train.add_argument("--work-dir", type=Path, help="the run's folder (default runs/<name>)")
    train.add_argument(
        "--force",
        action="store_true",
        help="continue a run in the work dir whose settings differ (default: refuse)",
    )
    _add_set_option(train, "override a recipe setting, e.g. --set train.epochs=2 (repeatable)")
    train.set_defaults(handler=_train)

    predict = commands.add_parser(
        "predict",
        help="segment cases with a trained run",
        description="Write BraTS-format label maps (<case id>.nii.gz, uint8, source affine) "
        "for every case folder under CASES, with the preprocessing, inference and chosen "
        "post-processing of the run. Several runs (the folds of a cross-validation) are "
        "ensembled: their probabilities are averaged; the post-processing is then the "
        "recipe's inference settings.",
    )
    predict.add_argument(
        "run",
        nargs="+",
        help="the work dir of a 'unetseg train' run; several (the folds of a "
        "cross-validation) are ensembled: their probabilities averaged",
    )
    predict.add_argument(
        "cases",
        help="a BraTS folder of cases (labels not needed), or an nnU-Net raw or Decathlon "
        "dataset (its training and imagesTs cases)",
    )
    predict.add_argument("output", type=Path, help="the folder for the predictions")
    predict.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which model (default best)"
    )
    predict.add_argument(
        "--model",
        help="a .keras (or exported .onnx) file to use instead of the run's checkpoint",
    )
    predict.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="predict only shard I of N (0 <= I < N): every N-th case by sorted id, so N "
        "machines split the cases and together write each exactly once",
    )
    predict.add_argument(
        "--overwrite",
        action="store_true",
        help="predict every case again, replacing files already in OUTPUT",
    )
    _add_set_option(predict, "override an inference setting, e.g. --set inference.tta=true")
    predict.set_defaults(handler=_predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="score predictions against ground truth",
        description="Score <case id>.nii.gz predictions against the segmentations of a BraTS "
        "training folder: Dice, HD95, sensitivity and specificity of WT, TC and ET; or of an "
        "nnU-Net raw or Decathlon dataset (a folder with dataset.json): the same per region "
        "or class its labels describe.",
    )
    evaluate.add_argument("predictions", help="the folder of predictions")
    evaluate.add_argument(
        "truth",
        help="a BraTS training folder with segmentations, or an nnU-Net raw or Decathlon "
        "dataset folder",
    )
    evaluate.add_argument(
        "--output", type=Path, default=Path("metrics.csv"), help="the CSV to write"
    )
    evaluate.add_argument("--cases", nargs="+", help="only these case ids")
    evaluate.set_defaults(handler=_evaluate)

    export = commands.add_parser(
        "export",
        help="write a trained model as a SavedModel or ONNX file for deployment",
        description="Write the model of a 'unetseg train' run (its first output: the "
        "full-size head of a deep-supervision network), with a dynamic batch and size, as a "
        "TensorFlow SavedModel folder or an ONNX file; then run the written model in "
        "TensorFlow or onnxruntime on a window and compare it with Keras. 'unetseg predict "
        "RUN CASES OUT --model model.onnx' predicts with an ONNX file.",
    )
    export.add_argument("run", type=Path, help="the work dir of a 'unetseg train' run")
    export.add_argument("output", type=Path, help="the SavedModel folder or .onnx file to write")
    export.add_argument(
        "--format", choices=("savedmodel", "onnx"), default="onnx", help="(default onnx)"
    )
    export.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which model (default best)"
    )
    export.add_argument("--model", help="a .keras file to export instead of the run's checkpoint")
    export.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="fail when the exported model differs from Keras by more (default 1e-4)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    export.set_defaults(handler=_export)

    info = commands.add_parser(
        "info",
        help="versions, backend and devices",
        description="Print the versions, the Keras backend and the devices, for bug reports.",
    )
    info.add_argument("--no-devices", action="store_true", help="do not start the backend")
    info.set_defaults(handler=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: The arguments after the program name (``["info"]``); ``None`` reads
            ``sys.argv[1:]``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("train", "predict", "evaluate", "export"):
            _check_paths(args)  # before the seconds Keras takes to start
            if args.command != "evaluate" and not args.debug:
                _start_keras()
        return int(args.handler(args))
    except (UnetsegError, OSError) as error:  # OSError: a missing, locked or wrong-kind path
        if args.debug:
            raise
        print(f"unetseg {args.command}: error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"unetseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
