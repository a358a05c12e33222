"""The look as a 3D LUT: fitted from frame pairs, applied, and written/read as a standard .cube."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from client.device.lut import apply_lut, fit_affine, fit_lut, read_cube, write_cube
from tests.media import textured_background

GAMMA = np.array([0.8, 1.15, 1.3])
# A warm, contrasty affine look with cross-channel mixing (rows: output R, G, B; last column: offset).
AFFINE = np.array([[1.10, 0.10, -0.05, 0.02], [0.05, 0.95, 0.00, -0.01], [-0.10, 0.05, 0.85, 0.05]])


def _gamma(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(255 * (rgb / 255.0) ** GAMMA), 0, 255).astype(np.uint8)


def _affine(rgb: np.ndarray, matrix: np.ndarray = AFFINE) -> np.ndarray:
    x = rgb.astype(np.float64) / 255.0
    return np.clip(np.rint(255 * (x @ matrix[:, :3].T + matrix[:, 3])), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def _content() -> list[np.ndarray]:
    return [textured_background(160, 96, seed=1), textured_background(160, 96, seed=2)]


def _analytic_lut(size: int = 33) -> np.ndarray:
    """A LUT that swaps channels and bends them, so any layout mistake shows: out = (b^0.7, r, g^1.4)."""
    nodes = np.linspace(0.0, 1.0, size)
    b, g, r = np.meshgrid(nodes, nodes, nodes, indexing="ij")
    return np.stack([b**0.7, r, g**1.4], axis=-1).astype(np.float32)


def test_a_per_channel_gamma_is_recovered():
    content = _content()
    lut = fit_lut(content, [_gamma(c) for c in content])
    assert lut.shape == (33, 33, 33, 3) and lut.dtype == np.float32
    for frame in content:
        out, want = apply_lut(frame, lut), _gamma(frame)
        assert np.abs(out.astype(int) - want).mean() < 1.0
        assert _psnr(out, want) > 38


def test_an_affine_look_is_recovered_and_a_larger_stylized_frame_is_resized():
    content = _content()
    graded = [_affine(c) for c in content]
    bigger = [cv2.resize(g, (g.shape[1] * 2, g.shape[0] * 2), interpolation=cv2.INTER_NEAREST) for g in graded]
    for stylized in (graded, bigger):
        lut = fit_lut(content, stylized)
        for frame, want in zip(content, graded, strict=True):
            out = apply_lut(frame, lut)
            assert np.abs(out.astype(int) - want).mean() < 1.0
            assert _psnr(out, want) > 38
    np.testing.assert_allclose(fit_affine(content, graded), AFFINE, atol=0.01)


def test_colours_the_frames_never_contain_get_the_global_affine_map():
    content = _content()  # reds 80..180, greens 60..180, blues 80..200: nothing saturated, nothing dark
    lut = fit_lut(content, [_affine(c) for c in content])
    far = np.array([[[250, 10, 10], [10, 250, 10], [10, 10, 250], [0, 0, 0], [255, 255, 255]]], np.uint8)
    assert np.abs(apply_lut(far, lut).astype(int) - _affine(far)).max() <= 2

    # A non-affine look: still finite, in range and smooth across the whole cube.
    lut = fit_lut(content, [_gamma(c) for c in content])
    assert np.isfinite(lut).all() and lut.min() >= 0 and lut.max() <= 1
    for axis in range(3):
        assert np.abs(np.diff(lut, axis=axis)).max() < 0.1
    # Far from the frames' colours the LUT tends to the fitted affine map (clipped to the cube).
    matrix = fit_affine(content, [_gamma(c) for c in content])
    nodes = np.linspace(0.0, 1.0, 33)
    b, g, r = np.meshgrid(nodes, nodes, nodes, indexing="ij")
    colour = np.stack([r, g, b], axis=-1)  # the input colour of each lattice node, lut[b][g][r]
    affine = np.clip(colour @ matrix[:, :3].T + matrix[:, 3], 0, 1)
    pixels = np.concatenate([c.reshape(-1, 3) for c in content]) / 255.0
    low, high = pixels.min(axis=0), pixels.max(axis=0)
    cells = 32 * np.linalg.norm(np.maximum(0, np.maximum(low - colour, colour - high)), axis=-1)
    far = cells > 8
    assert far.sum() > 3000
    assert np.abs(lut[far] - affine[far]).max() < 0.015


def test_a_flat_frame_still_gives_a_defined_lut():
    grey = np.full((40, 60, 3), 128, np.uint8)
    warm = np.full((40, 60, 3), (150, 120, 100), np.uint8)
    for size in (2, 3, 17, 65):
        lut = fit_lut([grey], [warm], size=size)
        assert lut.shape == (size, size, size, 3)
        assert np.isfinite(lut).all() and lut.min() >= 0 and lut.max() <= 1
        if size > 2:  # a 2-node lattice would need values outside [0, 1] at its corners to hit mid-grey exactly
            assert np.abs(apply_lut(grey, lut).astype(int) - warm).max() <= 1


def test_a_spatially_varying_look_gives_the_best_global_compromise():
    texture = textured_background(96, 96, seed=3)
    content = np.hstack([texture, texture])  # the same colours on both halves
    left, right = _gamma(texture), _affine(texture)
    lut = fit_lut([content], [np.hstack([left, right])])
    out = apply_lut(texture, lut).astype(int)
    mean = (left.astype(int) + right) / 2
    assert np.abs(out - mean).mean() < 1.0
    low, high = np.minimum(left, right).astype(int), np.maximum(left, right).astype(int)
    assert ((out >= low - 1) & (out <= high + 1)).mean() > 0.99


def test_bad_inputs_are_refused():
    frame = textured_background(32, 24)
    with pytest.raises(ValueError):
        fit_lut([frame], [])
    with pytest.raises(ValueError):
        fit_lut([], [])
    with pytest.raises(ValueError):
        fit_lut([frame.astype(np.float32)], [frame])
    with pytest.raises(ValueError):
        fit_lut([frame[..., :2]], [frame])
    for size in (1, 300, 33.0):
        with pytest.raises(ValueError):
            fit_lut([frame], [frame], size=size)
    with pytest.raises(ValueError):
        apply_lut(frame, np.zeros((4, 4, 3, 3), np.float32))


def test_cube_round_trip_and_standard_layout(tmp_path):
    lut = _analytic_lut()
    path = tmp_path / "look.cube"
    write_cube(str(path), lut, 'my "dusk"\nlook')
    np.testing.assert_allclose(read_cube(str(path)), lut, atol=1e-5)

    lines = path.read_text().splitlines()
    assert lines[0] == "TITLE \"my 'dusk' look\""
    assert "LUT_3D_SIZE 33" in lines
    data = [line for line in lines if line and not line[0].isalpha()]
    assert len(data) == 33**3
    values = [np.array(line.split(), float) for line in data[:2]] + [np.array(data[33].split(), float)]
    # Data line 0 is (r, g, b) = (0, 0, 0); line 1 is r=1 (red changes fastest); line 33 is g=1.
    np.testing.assert_allclose(values[0], lut[0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(values[1], lut[0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(values[1], [0.0, 1 / 32, 0.0], atol=1e-6)
    np.testing.assert_allclose(values[2], [0.0, 0.0, (1 / 32) ** 1.4], atol=1e-6)


def test_a_fitted_lut_survives_the_file(tmp_path):
    content = _content()
    lut = fit_lut(content, [_gamma(c) for c in content])
    path = tmp_path / "fitted.cube"
    write_cube(str(path), lut, "fitted")
    read = read_cube(str(path))
    np.testing.assert_allclose(read, lut, atol=1e-6)  # the file keeps 6 decimals
    # Through either, the same picture: a value that lands within 1e-4 of a half level may round the other way.
    changed = apply_lut(content[0], read).astype(int) - apply_lut(content[0], lut)
    assert np.abs(changed).max() <= 1 and np.count_nonzero(changed) <= 0.001 * changed.size


def test_an_unwritable_path_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        write_cube(str(tmp_path / "missing" / "look.cube"), _analytic_lut(5), "x")


GOOD_HEADER = 'TITLE "t"\nLUT_3D_SIZE 2\n'
GOOD_DATA = "".join(f"{r} {g} {b}\n" for b in (0, 1) for g in (0, 1) for r in (0, 1))


@pytest.mark.parametrize(
    "text",
    [
        GOOD_DATA,  # no size
        GOOD_HEADER + GOOD_DATA.rsplit("\n", 2)[0] + "\n",  # a line short
        GOOD_HEADER + GOOD_DATA + "1 1 1\n",  # a line too many
        GOOD_HEADER + GOOD_DATA.replace("1 0 0", "1 zero 0"),
        GOOD_HEADER + GOOD_DATA.replace("1 0 0", "1 0"),
        GOOD_HEADER + GOOD_DATA.replace("1 0 0", "1 nan 0"),
        'TITLE "t"\nLUT_3D_SIZE 1\n0 0 0\n',
        'TITLE "t"\nLUT_3D_SIZE two\n' + GOOD_DATA,
        'TITLE "t"\nLUT_1D_SIZE 2\n0 0 0\n1 1 1\n',
        GOOD_HEADER + "DOMAIN_MAX 2 2 2\n" + GOOD_DATA,
        GOOD_HEADER + "0 0 0\nLUT_3D_SIZE 2\n" + GOOD_DATA,
        GOOD_HEADER + "FROBNICATE 3\n" + GOOD_DATA,
    ],
)
def test_malformed_cube_files_are_value_errors(tmp_path, text):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(ValueError):
        read_cube(str(path))


def test_a_minimal_hand_written_cube_is_read(tmp_path):
    path = tmp_path / "tiny.cube"
    path.write_text("# comment\n" + GOOD_HEADER + "DOMAIN_MIN 0 0 0\nDOMAIN_MAX 1.0 1.0 1.0\n\n" + GOOD_DATA)
    lut = read_cube(str(path))
    assert lut.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(lut[1, 0, 1], [1, 0, 1])  # [b][g][r]
    identity = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert np.abs(apply_lut(identity, lut).astype(int) - identity).max() <= 1


def _test_luts() -> list[tuple[str, np.ndarray]]:
    content = _content()
    return [("analytic", _analytic_lut()), ("fitted", fit_lut(content, [_affine(_gamma(c)) for c in content]))]


def _pyav_lut3d(path: str, rgb: np.ndarray) -> np.ndarray:
    graph = av.filter.Graph()
    source = graph.add_buffer(width=rgb.shape[1], height=rgb.shape[0], format="rgb24", time_base=Fraction(1, 25))
    lut = graph.add("lut3d", file=path, interp="trilinear")
    sink = graph.add("buffersink")
    source.link_to(lut)
    lut.link_to(sink)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    graph.push(frame)
    return graph.pull().to_ndarray(format="rgb24")


def _check_against_tool(out: np.ndarray, ours: np.ndarray) -> None:
    # ffmpeg's lut3d truncates where we round: never more than a level apart, and on average half of one.
    difference = out.astype(int) - ours
    assert np.abs(difference).max() <= 1
    assert np.abs(difference).mean() < 0.7


def test_ffmpegs_lut3d_filter_in_pyav_reads_our_file_as_we_do(tmp_path):
    if "lut3d" not in av.filter.filters_available:
        pytest.skip("this PyAV's libavfilter has no lut3d")
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    for name, lut in _test_luts():
        path = tmp_path / f"{name}.cube"
        write_cube(str(path), lut, name)
        _check_against_tool(_pyav_lut3d(str(path), rgb), apply_lut(rgb, lut))


def test_the_ffmpeg_command_reads_our_file_as_we_do(tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("no ffmpeg on PATH (the PyAV lut3d test covers the same filter)")
    filters = subprocess.run([ffmpeg, "-hide_banner", "-filters"], capture_output=True, text=True, check=False).stdout
    if " lut3d " not in filters:
        pytest.skip("this ffmpeg has no lut3d filter")
    rgb = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    for name, lut in _test_luts():
        cube, result = tmp_path / f"{name}.cube", tmp_path / f"{name}.png"
        write_cube(str(cube), lut, name)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-i", str(source), "-vf", f"lut3d=file={cube}:interp=trilinear", str(result)],
            check=True,
            cwd=tmp_path,
        )
        out = cv2.cvtColor(cv2.imread(str(result)), cv2.COLOR_BGR2RGB)
        _check_against_tool(out, apply_lut(rgb, lut))
