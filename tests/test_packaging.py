"""`pip install .` ships a working tool: the commands, the shipped weights, the generated gRPC code."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO_ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("mvstylizer-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_carries_the_weights_the_generated_code_and_the_packages(wheel):
    names = set(wheel.namelist())
    for shipped in (
        "services/stylizer/weights/preset.pt",
        "services/stylizer/weights/meta_smoothing.pt",
        "protos/mvstylizer/v1/stylizer_pb2.py",
        "protos/mvstylizer/v1/stylizer_pb2_grpc.py",
        "protos/mvstylizer/v1/stylizer.proto",
        "client/cli.py",
        "client/live/preview.py",
        "client/browser/index.html",
        "client/browser/dist/messages.js",
        "client/browser/dist/webm.js",
        "client/browser/recording.js",
        "services/web/relay.py",
        "services/interpolator/session.py",
        "mvstylizer_common/errors.py",
    ):
        assert shipped in names, shipped
    # The repository's own tooling stays out of site-packages, and no generic top-level name is added
    # beyond the design card's folders.
    tops = {name.split("/")[0] for name in names if not name.startswith("mvstylizer-")}
    assert tops == {"client", "services", "protos", "mvstylizer_common"}, tops


def test_the_wheel_provides_the_commands(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    for line in (
        "mvstylizer = client.launcher:main",
        "mvstylizer-stylizer = services.stylizer.__main__:main",
        "mvstylizer-interpolator = services.interpolator.__main__:main",
    ):
        assert line in text
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [line for line in wheel.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: torch==2.13.0" in requires and any("grpcio==" in r for r in requires)
