"""Reproduce the shipped weights: `python -m services.stylizer.train [preset|smoothing|all] --out DIR`.

Seeded; runs on the CPU. Writes the weight files and a JSON report of the run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from services.stylizer.models.preset import save_preset
from services.stylizer.smoothing import SHIPPED, save_smoothing
from services.stylizer.train.data import training_photos
from services.stylizer.train.preset import PresetTraining, train_preset
from services.stylizer.train.smoothing import SmoothingTraining, train_smoothing
from services.stylizer.weight_files import SHIPPED_DIR


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.stylizer.train", description=__doc__)
    parser.add_argument("what", choices=["preset", "smoothing", "all"], nargs="?", default="all")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="directory for the weight files")
    parser.add_argument("--preset-steps", type=int, default=PresetTraining.steps)
    parser.add_argument("--smoothing-steps", type=int, default=SmoothingTraining.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (the result depends on it slightly)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    photos = training_photos()
    reports = {}
    started = time.perf_counter()
    if args.what in ("preset", "all"):
        model, reports["preset"] = train_preset(photos, PresetTraining(steps=args.preset_steps, seed=args.seed))
        save_preset(model, args.out / "preset.pt", reports["preset"])
    if args.what in ("smoothing", "all"):
        module, reports["smoothing"] = train_smoothing(
            photos, SmoothingTraining(steps=args.smoothing_steps, seed=args.seed)
        )
        save_smoothing(module, args.out / SHIPPED, reports["smoothing"])
    reports["total_seconds"] = round(time.perf_counter() - started, 1)
    report_path = args.out / f"training_{args.what}.json"
    report_path.write_text(json.dumps(reports, indent=2) + "\n")
    print(f"wrote weights and {report_path}")


if __name__ == "__main__":
    main()
