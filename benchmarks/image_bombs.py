"""What reading a hostile photo file costs the process that reads it.

    python -m benchmarks.image_bombs --out out/bench [--unchecked]

Makes small files that claim huge images (a lossless WebP of 16383x16383, a Group 4 TIFF of
20000x20000, an RLE8 BMP whose header claims 30000x30000, a GIF of 20000x20000), the same
formats between 40 and 179 Mpx, a multi-page TIFF whose first page is small and whose second is
20000x20000, /dev/zero, a 3 GB file that starts like a PNG and one that is no image. Reads each
with `load_image_file` (what --style, masks and content photos go through) in a fresh Python
process and records its peak resident memory (VmHWM), the time the read took and the outcome.
`--unchecked` also decodes each bomb with OpenCV alone (what it costs without the header check:
several GB and seconds). Prints and writes image_bombs.json.

Pass: every bomb refused, at most 300 MB peak in the reading process.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

PEAK_LIMIT_MB = 300

# Runs in a fresh interpreter: the imports first (their memory is the baseline), then one read.
_CHILD = """
import json, sys, time
import cv2, numpy as np
from mvstylizer_common.imagecodec import load_image_file

def peak_mb():
    # VmHWM: this process's peak resident memory (ru_maxrss would carry the parent's across exec).
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

path, reader = sys.argv[1], sys.argv[2]
before = peak_mb()
start = time.perf_counter()
try:
    if reader == "checked":
        shape = load_image_file(path)[1].shape
    else:
        with open(path, "rb") as handle:
            image = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
        shape = None if image is None else image.shape
    outcome = f"decoded {shape}"
except Exception as error:
    outcome = f"{type(error).__name__}: {error}"
seconds = time.perf_counter() - start
print(json.dumps({"outcome": outcome, "seconds": round(seconds, 3), "peak_mb": round(peak_mb(), 1),
                  "imports_mb": round(before, 1)}))
"""


def webp_bomb(path: Path, side: int = 16383) -> None:
    """A real lossless WebP of one colour (16383 is WebP's largest side; about 800 MB to make)."""
    from PIL import Image

    Image.new("RGB", (side, side), (40, 90, 200)).save(path, lossless=True, quality=0, method=0)


def tiff_bomb(path: Path, side: int = 20000, pages: int = 1) -> None:
    """A bilevel TIFF in Group 4 (a few KB); with pages=2 a 64x64 page comes first."""
    from PIL import Image

    big = Image.new("1", (side, side), 1)
    if pages == 1:
        big.save(path, compression="group4")
    else:
        Image.new("1", (64, 64), 1).save(path, compression="group4", save_all=True, append_images=[big])


def bmp_bomb(path: Path, side: int = 30000) -> None:
    """An 8-bit RLE BMP whose header claims side x side and whose data ends at once."""
    palette = b"\x00\x00\x00\x00" * 256
    pixels = b"\x00\x01"  # end of bitmap: every pixel takes colour 0
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels)


def gif_bomb(path: Path) -> None:
    from PIL import Image

    Image.new("P", (20000, 20000), 0).save(path)


def sparse_file(path: Path, head: bytes, size: int = 3 << 30) -> None:
    """A 3 GB file (sparse: no disk used) that starts with head."""
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(size)


def make_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    # Over Pillow's own limit (179 Mpx) and between it and ours (40 Mpx), which take different paths.
    makers = {
        "webp_16383x16383.webp": webp_bomb,
        "webp_10000x10000.webp": lambda p: webp_bomb(p, 10000),
        "tiff_20000x20000.tif": tiff_bomb,
        "tiff_8000x8000.tif": lambda p: tiff_bomb(p, 8000),
        "bmp_rle8_30000x30000.bmp": bmp_bomb,
        "bmp_rle8_9000x9000.bmp": lambda p: bmp_bomb(p, 9000),
        "gif_20000x20000.gif": gif_bomb,
        "tiff_64x64_then_20000x20000.tif": lambda p: tiff_bomb(p, pages=2),
        "png_signature_then_3gb.png": lambda p: sparse_file(p, b"\x89PNG\r\n\x1a\n"),
        "not_an_image_3gb.bin": lambda p: sparse_file(p, b"\x00\x00\x00\x18ftypmp42"),
    }
    files = {}
    for name, make in makers.items():
        path = folder / name
        if not path.exists():
            make(path)
        files[name] = str(path)
    files["/dev/zero"] = "/dev/zero"
    return files


def read_in_fresh_process(path: str, reader: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, path, reader], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        return {"outcome": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--unchecked", action="store_true", help="also decode each bomb with OpenCV alone")
    args = parser.parse_args()
    out = Path(args.out)
    files = make_files(out / "image_bombs")
    readers = ["checked", "opencv"] if args.unchecked else ["checked"]
    results = []
    for name, path in files.items():
        for reader in readers:
            if reader == "opencv" and (name == "/dev/zero" or "3gb" in name):
                continue  # unbounded or 3 GB read: not a decompression bomb
            started = time.perf_counter()
            row = {
                "file": name,
                "file_bytes": Path(path).stat().st_size,
                "reader": reader,
                **read_in_fresh_process(path, reader),
            }
            row["process_seconds"] = round(time.perf_counter() - started, 2)
            results.append(row)
            print(json.dumps(row), flush=True)
    checked = [r for r in results if r["reader"] == "checked"]
    summary = {
        "peak_limit_mb": PEAK_LIMIT_MB,
        "max_peak_mb": max(r.get("peak_mb", float("inf")) for r in checked),
        "all_bombs_refused": all(not r["outcome"].startswith("decoded") for r in checked if "then" not in r["file"]),
    }
    summary["pass"] = summary["all_bombs_refused"] and summary["max_peak_mb"] <= PEAK_LIMIT_MB
    print(json.dumps(summary))
    (out / "image_bombs.json").write_text(json.dumps({"results": results, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
