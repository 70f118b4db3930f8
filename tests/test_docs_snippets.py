"""Every Python snippet of the guides (``docs/*.md``) and the README runs, so the docs
cannot drift from the code.

A page's snippets run in order in one namespace, as a reader would type them, in a
fresh folder that holds small generated cases under the names the guides use
(``MICCAI_BraTS2020_TrainingData``, ``MICCAI_BraTS2020_ValidationData``), a model at
``work/best.keras`` and perfect predictions in ``predictions/``. The names a guide
uses without defining them — what the reader has at hand — are given: ``model`` (a
3D model of 4 → 3 channels, one 1×1×1 convolution, so that 128³ windows take
milliseconds on a CPU), ``image`` (a normalised case, channels last),
``record`` (a full-size case's record), ``x`` and ``y`` (a batch of one image and its
region targets), ``prediction_labels`` and ``truth_labels`` (BraTS label maps). A
snippet that needs what the test machine does not have (the real data, a GPU, hours)
is preceded by ``<!-- snippet: skip REASON -->``; a ``unetseg ...`` line in a
``bash`` block preceded by ``<!-- snippet: run -->`` runs through the command line.
Registrations a snippet makes (a loss, a norm) are undone after the page.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"])

# The docs' own reader of code blocks (the docs build runs the tutorial with it).
_spec = importlib.util.spec_from_file_location("docs_snippets", ROOT / "docs/_ext/snippets.py")
_snippets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_snippets)
snippets, run_page = _snippets.snippets, _snippets.run_page


def test_every_skip_gives_a_reason():
    for page in PAGES:
        for _, _, directive, reason in snippets(page):
            if directive == "skip":
                assert reason, f"{page.name}: a skipped snippet must say why"


@pytest.fixture(scope="module")
def generated_data(tmp_path_factory):
    import shutil

    from unetseg.data import find_brats_cases, write_synthetic_brats

    root = tmp_path_factory.mktemp("docs-data")
    write_synthetic_brats(
        root / "MICCAI_BraTS2020_TrainingData", 5, shape=(48, 48, 32), seed=0, progress=False
    )
    write_synthetic_brats(root / "full_size", 1, seed=2, progress=False)
    (root / "predictions").mkdir()
    for case in find_brats_cases(root / "MICCAI_BraTS2020_TrainingData"):
        shutil.copy(case["label"], root / "predictions" / f"{case['id']}.nii.gz")
    write_synthetic_brats(
        root / "MICCAI_BraTS2020_ValidationData",
        1,
        shape=(48, 48, 32),
        seed=1,
        validation=True,
        progress=False,
    )
    return root


def _pages_with_code():
    return [
        pytest.param(
            page, id=page.name, marks=[pytest.mark.slow] if page.name == "tutorial.md" else []
        )
        for page in PAGES
        if any(
            directive != "skip"
            for language, _, directive, _ in snippets(page)
            if language == "python" or directive == "run"
        )
    ]


def _given(root: Path) -> dict:
    """What a guide uses without defining it (see the module documentation)."""
    from unetseg.data import find_brats_cases, generate_case
    from unetseg.task import resolve_task
    from unetseg.transforms import NormalizeIntensity

    raw, truth_labels = generate_case((48, 48, 32), seed=3)
    image = NormalizeIntensity(nonzero=True, channel_wise=True)(raw)
    import keras

    inputs = keras.Input((None, None, None, 4))
    model = keras.Model(inputs, keras.layers.Conv3D(3, 1)(inputs))
    prediction_labels = truth_labels.copy()
    prediction_labels[prediction_labels == 4] = 1  # an imperfect prediction
    return {
        "model": model,
        "image": image,
        "record": find_brats_cases(root / "full_size")[0],
        "x": image[None],
        "y": resolve_task("brats_regions").encode(truth_labels)[None],
        "prediction_labels": prediction_labels,
        "truth_labels": truth_labels,
    }


@pytest.fixture
def restored_registries(isolated_registry_index):
    """Undo what snippets register (a registry refuses a name twice), and forget the
    registries they create. Internal registries (``INVERSES``) have no entry-point
    group, so they are not in the index: they are taken from ``unetseg.registries``."""
    from unetseg import registries
    from unetseg.registry import Registry

    every = {id(r): r for r in isolated_registry_index.values()}
    every |= {id(r): r for r in vars(registries).values() if isinstance(r, Registry)}
    for registry in every.values():
        registry.names()  # built-ins and plugins loaded first: they are part of the state
    saved = [(registry, dict(registry._entries)) for registry in every.values()]
    yield
    for registry, entries in saved:
        registry._entries = entries


@pytest.mark.parametrize("page", _pages_with_code())
def test_the_snippets_of_a_page_run(
    page, generated_data, tmp_path, monkeypatch, restored_registries
):
    for name in ("MICCAI_BraTS2020_TrainingData", "MICCAI_BraTS2020_ValidationData", "predictions"):
        (tmp_path / name).symlink_to(generated_data / name)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}", **_given(generated_data)}
    (tmp_path / "work").mkdir()
    namespace["model"].save(tmp_path / "work" / "best.keras")
    run_page(page, namespace)
