"""Benchmark: time per case of the BraTS evaluation (Dice and HD95 per region).

HD95 is the usual bottleneck of an evaluation loop. This times it on pairs of
BraTS-sized label maps (240 × 240 × 155) in two situations:

- ``compact``: the prediction is the truth shifted by two voxels with a chunk of
  the core missed — errors near the tumour, as from a decent model;
- ``scattered``: the same plus isolated false-positive voxels spread over the whole
  volume, as from an early or poor model — the worst case for any method that
  crops to the masks' bounding box.

``--compare monai`` times MONAI's ``DiceMetric`` and ``HausdorffDistanceMetric``
(``percentile=95``) on the same masks in the same run, NumPy → tensor conversion
included, and checks that the values agree with ours.

Run ``python benchmarks/metrics.py`` (``--quick`` for a small CI-sized run). Results
go to ``benchmarks/results/`` as JSON and Markdown, stamped with the machine and
library versions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import RESULTS, markdown_table, median_seconds, save, stamp
from _monai import skip_reason

from unetseg.metrics import dice, evaluate_brats_case, hd95
from unetseg.regions import labels_to_regions


def tumour_pair(shape: tuple[int, int, int], scattered: bool, seed: int = 0):
    """A BraTS-like truth label map and a plausible imperfect prediction of it."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape, dtype=np.float32)
    centre = np.array(shape, dtype=np.float32) * np.array([0.55, 0.45, 0.5])
    scale = min(shape) / 155.0
    # A lumpy tumour: a sphere whose radius varies with direction.
    offsets = grid - centre[:, None, None, None]
    radius = np.sqrt((offsets**2).sum(axis=0))
    angle = np.arctan2(offsets[1], offsets[0])
    lumpy = radius / (1.0 + 0.2 * np.sin(3 * angle))
    truth = np.zeros(shape, np.uint8)
    truth[lumpy < 30 * scale] = 2
    truth[lumpy < 18 * scale] = 4
    truth[lumpy < 12 * scale] = 1
    prediction = np.roll(truth, 2, axis=0)
    prediction[(lumpy < 8 * scale) & (offsets[2] > 0)] = 2  # part of the core missed
    if scattered:
        noise = rng.random(shape) < 2e-5
        prediction[noise] = rng.choice(np.array([1, 2, 4], np.uint8), size=int(noise.sum()))
    return prediction, truth


def monai_row(p_regions: np.ndarray, t_regions: np.ndarray, repeats: int) -> dict:
    """MONAI's Dice and HD95 of the same region masks (channels first, batch of one)."""
    import torch
    from monai.metrics import DiceMetric, HausdorffDistanceMetric

    def tensors(regions: np.ndarray, channels: slice) -> tuple:
        def convert(masks: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.moveaxis(masks[..., channels], -1, 0)[None].copy())

        return convert(regions[0]), convert(regions[1])

    dice_metric = DiceMetric(include_background=True, reduction="none")
    hd95_metric = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")

    def dice_of(channels: slice) -> np.ndarray:
        return dice_metric(*tensors((p_regions, t_regions), channels)).numpy()[0]

    def hd95_of(channels: slice) -> np.ndarray:
        return hd95_metric(*tensors((p_regions, t_regions), channels)).numpy()[0]

    wt, every = slice(0, 1), slice(0, 3)
    return {
        "dice_wt_s": median_seconds(lambda: dice_of(wt), repeats),
        "hd95_wt_s": median_seconds(lambda: hd95_of(wt), repeats),
        "case_all_regions_s": median_seconds(lambda: (dice_of(every), hd95_of(every)), repeats),
        "hd95_wt_mm": float(hd95_of(wt)[0]),
        "dice_wt": float(dice_of(wt)[0]),
        "hd95_mm": [float(v) for v in hd95_of(every)],
        "dice": [float(v) for v in dice_of(every)],
    }


def run(shape: tuple[int, int, int], repeats: int, monai: bool = False) -> list[dict]:
    rows = []
    for scenario in ("compact", "scattered"):
        prediction, truth = tumour_pair(shape, scattered=scenario == "scattered")
        p_regions, t_regions = labels_to_regions(prediction), labels_to_regions(truth)
        wt_p, wt_t = p_regions[..., 0], t_regions[..., 0]
        rows.append(
            {
                "scenario": scenario,
                "shape": list(shape),
                "dice_wt_s": median_seconds(lambda: dice(wt_p, wt_t), repeats),  # noqa: B023
                "hd95_wt_s": median_seconds(lambda: hd95(wt_p, wt_t), repeats),  # noqa: B023
                "case_all_regions_s": median_seconds(
                    lambda: evaluate_brats_case(prediction, truth),  # noqa: B023
                    repeats,
                ),
                "hd95_wt_mm": hd95(wt_p, wt_t),
                "dice_wt": dice(wt_p, wt_t),
            }
        )
        if monai:
            theirs = monai_row(p_regions, t_regions, repeats)
            ours = evaluate_brats_case(prediction, truth)
            hd95_ours = [ours[region]["hd95"] for region in ("WT", "TC", "ET")]
            dice_ours = [ours[region]["dice"] for region in ("WT", "TC", "ET")]
            rows[-1]["monai"] = theirs
            rows[-1]["hd95_speedup_vs_monai"] = theirs["hd95_wt_s"] / rows[-1]["hd95_wt_s"]
            rows[-1]["values_agree"] = bool(
                np.allclose(hd95_ours, theirs["hd95_mm"], atol=1e-4)
                and np.allclose(dice_ours, theirs["dice"], atol=1e-6)
            )
    return rows


def markdown(rows: list[dict], info: dict) -> str:
    header = (
        f"# Metrics benchmark — {info['date']}\n\nMachine: {info['machine']}; Python "
        f"{info['python']}; NumPy {info['packages']['numpy']}; SciPy {info['packages']['scipy']}; "
        f"unetseg {info['unetseg']}; MONAI {info['packages']['monai']}. Median of "
        f"{info['repeats']} runs. Our case time is Dice, HD95, sensitivity and specificity of "
        "the three regions; MONAI's is Dice and HD95 of the three.\n\n"
    )
    headers = [
        "scenario",
        "shape",
        "Dice WT (s)",
        "HD95 WT (s)",
        "case, 3 regions (s)",
        "HD95 WT (mm)",
        "MONAI HD95 WT (s)",
        "MONAI Dice + HD95, 3 regions (s)",
        "HD95 × faster than MONAI",
        "same values",
    ]
    table = []
    for row in rows:
        monai = row.get("monai")
        table.append(
            [
                row["scenario"],
                "×".join(map(str, row["shape"])),
                f"{row['dice_wt_s']:.4f}",
                f"{row['hd95_wt_s']:.4f}",
                f"{row['case_all_regions_s']:.4f}",
                f"{row['hd95_wt_mm']:.2f}",
                f"{monai['hd95_wt_s']:.4f}" if monai else "–",
                f"{monai['case_all_regions_s']:.4f}" if monai else "–",
                f"{row['hd95_speedup_vs_monai']:.1f}" if monai else "–",
                ("yes" if row["values_agree"] else "NO") if monai else "–",
            ]
        )
    text = header + markdown_table(headers, table)
    if info.get("monai_skipped"):
        text += f"\n{info['monai_skipped']}\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volumes, for CI")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement")
    parser.add_argument("--compare", choices=("monai",), help="also time MONAI's metrics")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)

    shape = (96, 96, 64) if args.quick else (240, 240, 155)
    repeats = args.repeats or (2 if args.quick else 5)
    skipped = skip_reason(args.compare)
    rows = run(shape, repeats, monai=args.compare == "monai" and not skipped)
    info = stamp("metrics", repeats=repeats, quick=args.quick)
    if skipped:
        info["monai_skipped"] = skipped
    name = f"metrics-{'quick-' if args.quick else ''}{info['date'][:10]}"
    save(args.output, name, {**info, "results": rows}, markdown(rows, info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
