"""Generate the Python code for protos/mvstylizer/v1/*.proto (python -m protos.generate [--out DIR])."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = Path("protos/mvstylizer/v1")


def proto_files() -> list[str]:
    return sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / PROTO_DIR).glob("*.proto"))


def generate(out_dir: Path) -> None:
    """Write *_pb2.py, *_pb2.pyi and *_pb2_grpc.py under out_dir/protos/mvstylizer/v1/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{REPO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(REPO_ROOT / f) for f in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT, help="output root (default: the repository)")
    generate(parser.parse_args().out)
    print(f"generated {len(proto_files())} proto files", file=sys.stderr)


if __name__ == "__main__":
    main()
