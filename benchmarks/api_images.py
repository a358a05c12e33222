"""Ten photos through the warm-stylizer API against ten times one photo through a running service.

    python -m benchmarks.api_images --out out/bench

The photos are scikit-image's samples (the style: rocket.jpg). Writes api_images.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from client.api import Stylizer
from client.image import stylize_image
from client.remote.embedded import ServiceProcess
from client.remote.services import ServiceOptions
from mvstylizer_common.samples import package_file, sample_style

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_images", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    style = str(sample_style())
    photos = [str(package_file("skimage", "data", name)) for name in PHOTOS] * 2
    service = ServiceProcess("services.stylizer")
    try:
        running = ServiceOptions(stylizer=service.address)
        stylize_image(photos[0], style, running)  # warm-up: the first session builds the style's code
        singles = []
        for photo in photos[:5]:
            started = time.perf_counter()
            stylize_image(photo, style, running)
            singles.append(time.perf_counter() - started)
        one = statistics.median(singles)
        with Stylizer(style=style, stylizer=service.address) as stylizer:
            started = time.perf_counter()
            for photo in photos:
                stylizer.stylize_image(photo)
            ten = time.perf_counter() - started
    finally:
        service.stop()
    result = {"one_image_s": round(one, 3), "ten_images_api_s": round(ten, 3), "ratio": round(ten / (10 * one), 3)}
    (args.out / "api_images.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"one image through a running service: {one:.3f} s; ten through the warm API: {ten:.3f} s "
          f"({result['ratio']:.2f}x ten singles)")  # fmt: skip


if __name__ == "__main__":
    main()
