"""The look as a 3D LUT: fitted from (original, stylized) frame pairs, written as an Adobe/Resolve `.cube`.

The stylizer's look can be region-aware (the same colour may be graded differently in the sky
and on a face), and a LUT maps colour to colour whatever the position, so a LUT can only be the
look's best global approximation: where one colour is graded two ways, the fit lands between
the two, weighted by how many pixels saw each (the least-squares compromise).

Lattice order: a LUT here is a float32 array of shape (N, N, N, 3) indexed ``lut[b, g, r]``,
the output RGB in [0, 1] for the input colour (r, g, b) = (i_r, i_g, i_b) / (N - 1). Flattened
in C order this is the `.cube` data order (red changing fastest, then green, then blue), so
`write_cube` and `read_cube` need no transposition.

The fit (`fit_lut`): first a global 3x4 affine colour map by (slightly ridge-regularised) least
squares; its values at the lattice nodes, clipped to [0, 1], are the prior P; then the lattice
is P plus a residual field D that minimises

    sum over pixels |trilinear(D)(x_p) - (y_p - trilinear(P)(x_p))|^2 / n
      + lam * sum over lattice edges |D_i - D_j|^2 + mu * sum |D_i|^2,

solved by Jacobi-preconditioned conjugate gradient on the grid (the data term's normal matrix
is a 27-point stencil built once from the pixels). Pixels are grouped by original colour
first (exact for a least-squares data term). The membrane term fills the lattice smoothly
between the frames' colours; far from them the residual decays to zero (over about
sqrt(lam / mu) cells), so colours the frames never contain get the global affine map, clipped
to [0, 1] (and kept from folding, below). An affine look is reproduced exactly where it stays
inside the cube (its residual is zero).

Then two constraints on its output luminance (Rec. 709), the only changes made to the fit:
- along the grey axis it never goes down (`grey_monotone`, exact for the interpolated ramp, not
  only at the nodes): a grey ramp or a neutral gradient through the LUT cannot band;
- between two lattice nodes that no pixel of the frames reaches (the extrapolated part), a step
  along an input axis lowers it by at most EXTRAPOLATION_DROP (`tolerant_monotone`), so what the
  fit makes up there cannot fold.
Where the frames themselves show a brighter colour graded darker (a region-aware look can; one
that darkens blues does so along the whole blue axis), the LUT keeps it: forcing every axis
monotone there, as a grade that cannot band anywhere would need, cost a fifth of the fidelity.
About 0.7 s for eight 640x360 pairs on one CPU core. Pure numpy/OpenCV.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

DEFAULT_SIZE = 33
MAX_SIZE = 256  # the largest .cube lattice ffmpeg's lut3d accepts
MAX_FIT_SIZE = 65  # the solver holds 27 float64 bands of the lattice: 65^3 is ~60 MB
SMOOTHNESS = 0.02  # lam, relative to the mean data weight of a lattice node the frames reach
DECAY = 0.01  # mu / lam: the residual fades over ~10 cells away from the frames' colours
RIDGE = 1e-4  # pulls the affine fit toward the identity where the frames do not determine it
UNREACHED_WEIGHT = 0.01  # a node carrying less pixel weight than this (relative to a reached node's mean)
EXTRAPOLATION_DROP = 1 / 255  # the most luminance may fall per lattice step between two unreached nodes
GREY_WEIGHT_FLOOR = 1e-4  # the weight of a node no pixel reaches in the grey chain's regression
GREY_SPREAD = 4.0  # cells off the grey axis over which its correction fades out
MONOTONE_ROUNDS = 20  # at most this many alternations of the two constraints (a few suffice)
RUN_BREAK = 10.0  # larger than any luminance difference: no running max or min crosses it
ENVELOPE_TOLERANCE = 1e-12
CG_TOLERANCE = 1e-5
CG_MAX_ITERATIONS = 400

LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 luminance weights (they sum to 1)

_CORNERS = np.array([(db, dg, dr) for db in (0, 1) for dg in (0, 1) for dr in (0, 1)], np.int64)


def fit_lut(originals: list[np.ndarray], stylized: list[np.ndarray], size: int = DEFAULT_SIZE) -> np.ndarray:
    """The LUT (size x size x size x 3 float32 in [0, 1], indexed [b][g][r]) best mapping originals to stylized.

    `originals[i]` and `stylized[i]` are HxWx3 uint8 RGB of the same view; a stylized frame of
    another size is resized to its original's. A spatially varying look gives its best global
    approximation (see the module docstring): e.g. content graded one way on the left half and
    another way on the right gives, for colours both halves contain, the pixel-weighted mean
    of the two grades. Defined and smooth everywhere in the cube: colours the frames never
    contain get the global affine fit (its luminance falling at most EXTRAPOLATION_DROP a lattice
    step along any input axis), and a grey ramp through it never darkens.
    """
    size = _check_size(size)
    colours, counts, targets = _grouped_pixels(originals, stylized)
    total = float(counts.sum())
    weights = counts / total
    affine = _fit_affine(colours, weights, targets)
    nodes = np.linspace(0.0, 1.0, size)
    b, g, r = np.meshgrid(nodes, nodes, nodes, indexing="ij")
    lattice = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    # The prior is the affine map clipped to the cube; the residual is taken against the prior as
    # the lattice will interpolate it (so clipping near the cube's faces is part of what is fitted).
    prior = np.clip(_apply_affine(lattice, affine), 0.0, 1.0).reshape(size, size, size, 3)
    residual = targets - _interpolate(colours, prior)
    lut = np.clip(prior + _fit_residual(colours, weights, residual, size), 0.0, 1.0)
    # Banding comes from luminance that goes down as the input goes up. Along the grey axis (a grey
    # ramp, a neutral gradient) that is never the look: it is made exactly monotone. Elsewhere a look
    # can darken a brighter colour, and where the frames show it the LUT keeps it (forcing every axis
    # monotone took the error on bikes.mp4 from 8.7 to 10.7); where they show nothing, luminance may
    # fall by at most EXTRAPOLATION_DROP a step, so what the fit makes up there cannot fold. No
    # smoothing pass: the membrane term smooths already, and a [1, 2, 1] pass cost 8.7 -> 10.3.
    node_weight = _node_weights(colours, weights, size)
    node_weight = node_weight / node_weight[node_weight > 0].mean()
    unreached = node_weight < UNREACHED_WEIGHT
    for _ in range(MONOTONE_ROUNDS):  # each step moves nodes the other one holds: alternate till both hold
        lut = with_luminance(lut, tolerant_monotone(lut @ LUMA, unreached, EXTRAPOLATION_DROP))
        lut = with_luminance(lut, grey_monotone(lut @ LUMA, node_weight + GREY_WEIGHT_FLOOR))
        if _largest_drop(lut @ LUMA, unreached) <= EXTRAPOLATION_DROP + 1e-6:
            break
    # Last, the extrapolated part once more, leaving the grey chain's nodes (and so the ramp) as they are.
    unreached &= ~_on_grey_chain(size)
    return with_luminance(lut, tolerant_monotone(lut @ LUMA, unreached, EXTRAPOLATION_DROP)).astype(np.float32)


def grey_monotone(luminance: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`luminance` ([b][g][r] lattice) changed so that every grey through it, interpolated
    trilinearly, is non-decreasing; the change fades out over GREY_SPREAD cells off the grey axis.

    On the grey diagonal of the cell from node (i, i, i) to (i+1, i+1, i+1), trilinear
    interpolation is the cubic Bernstein polynomial whose control values are the luminance at
    (i, i, i), the mean over the three nodes one step off it, the mean over the three two steps
    off, and (i+1, i+1, i+1): it never goes down where that chain of 3 (size - 1) + 1 values does
    not. The chain is made non-decreasing by weighted isotonic regression (each group of nodes
    moving together), and the change is carried to the nodes around the axis as a function of
    their grey level (interpolated along the chain) scaled down with their distance from it, so
    near-greys follow grey instead of forming a ridge around it. The chain's own nodes, the only
    ones within sqrt(2/3) cell of the axis, get exactly their group's change."""
    size = luminance.shape[0]
    groups = _grey_groups(size)
    values = np.array([luminance[group].mean() for group in groups])
    group_weight = np.array([weight[group].sum() for group in groups])
    change = _isotonic_lines(values[None], group_weight[None])[0] - values
    index = np.indices((size, size, size), dtype=np.float64)
    level = index.mean(axis=0)  # the grey each node projects to, in cells
    distance = np.sqrt(((index - level) ** 2).sum(axis=0))
    near = math.sqrt(2 / 3)
    fade = np.clip((GREY_SPREAD - distance) / (GREY_SPREAD - near), 0.0, 1.0)
    return luminance + np.interp(level, np.arange(len(groups)) / 3, change) * fade


def _largest_drop(luminance: np.ndarray, nodes: np.ndarray) -> float:
    """The largest fall of `luminance` over a step along an input axis between two of `nodes` (0 if none)."""
    drops = [
        -np.diff(luminance, axis=axis)[np.take(nodes, range(n - 1), axis=axis) & np.take(nodes, range(1, n), axis=axis)]
        for axis in range(3)
        for n in [nodes.shape[axis]]
    ]
    return float(max(0.0, *(d.max(initial=0.0) for d in drops)))


def _on_grey_chain(size: int) -> np.ndarray:
    """The nodes ([b][g][r]) of grey_monotone's chain: those within one step of the grey axis on every channel."""
    index = np.indices((size, size, size))
    return (index.max(axis=0) - index.min(axis=0)) <= 1


def _grey_groups(size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The node groups of grey_monotone's chain, in order, as ([b], [g], [r]) index arrays."""
    groups = []
    for i in range(size - 1):
        j = i + 1
        for nodes in ([(i, i, i)], [(i, i, j), (i, j, i), (j, i, i)], [(i, j, j), (j, i, j), (j, j, i)]):
            groups.append(tuple(np.array(nodes).T))
    groups.append(tuple(np.array([(size - 1,) * 3]).T))
    return groups


def tolerant_monotone(luminance: np.ndarray, unreached: np.ndarray, drop: float) -> np.ndarray:
    """`luminance` ([b][g][r] lattice) with every step along an input axis between two `unreached`
    nodes going down by at most `drop`; other nodes keep their value. Each such node gets the mean
    of the smallest majorant and the largest minorant that obey it (both exact: iterated to their
    fixed point), so it moves no further than the constraint needs from either side."""
    luminance = np.asarray(luminance, np.float64)
    size = luminance.shape[0]
    free = [  # steps left as they are: one end or both carry the frames' own colours
        ~(np.take(unreached, range(size - 1), axis=axis) & np.take(unreached, range(1, size), axis=axis))
        for axis in range(3)
    ]
    above = _envelope(luminance, free, drop, np.maximum)
    below = _envelope(luminance, free, drop, np.minimum)
    return np.where(unreached, (above + below) / 2, luminance)


def _envelope(values: np.ndarray, free: list[np.ndarray], drop: float, pick) -> np.ndarray:
    """The smallest majorant (pick=np.maximum; the largest minorant for np.minimum) of `values` whose
    steps along each axis go down by at most `drop`, except the `free` steps: running max (min from the
    bright end) along each axis in turn, a free step starting a new run, until nothing changes."""
    x = values.copy()
    for _ in range(3 * x.shape[0]):  # a path through the lattice turns at most this often
        before = x
        for axis in range(3):
            line = np.moveaxis(x, axis, -1)
            breaks = np.moveaxis(free[axis], axis, -1)
            # Offset so a step of -drop is level and a free step a cliff no run crosses (values are in [0, 1]).
            offset = np.cumsum(np.where(breaks, RUN_BREAK, 0.0) + drop, axis=-1)
            offset = np.concatenate([np.zeros((*offset.shape[:-1], 1)), offset], axis=-1)
            shifted = line + offset
            if pick is np.maximum:
                shifted = np.maximum.accumulate(shifted, axis=-1)
            else:
                shifted = np.flip(np.minimum.accumulate(np.flip(shifted, axis=-1), axis=-1), axis=-1)
            x = np.moveaxis(shifted - offset, -1, axis)
        if np.abs(x - before).max() <= ENVELOPE_TOLERANCE:
            break
    return x


def with_luminance(lut: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """Each node given `luminance`, keeping its colour's offset from grey (scaled down only as far
    as needed to stay inside the cube)."""
    lut = np.asarray(lut, np.float64)
    target = np.clip(luminance, 0.0, 1.0)[..., None]
    chroma = lut - (lut @ LUMA)[..., None]  # zero luminance: LUMA sums to 1
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(chroma > 0, (1 - target) / chroma, np.where(chroma < 0, target / -chroma, np.inf))
    scale = np.minimum(room.min(axis=-1, keepdims=True), 1.0)
    return np.clip(target + scale * chroma, 0.0, 1.0)


def _isotonic_lines(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of each row (m x n, weights > 0), by the max-min
    formula: fit_i = max over j <= i of min over k >= i of the weighted mean of values j..k."""
    n = values.shape[1]
    zero = np.zeros((values.shape[0], 1))
    total_weight = np.concatenate([zero, np.cumsum(weights, axis=1)], axis=1)
    total_value = np.concatenate([zero, np.cumsum(weights * values, axis=1)], axis=1)
    first, last = np.indices((n, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (total_value[:, None, 1:] - total_value[:, :-1, None]) / (
            total_weight[:, None, 1:] - total_weight[:, :-1, None]
        )
    means = np.where(last >= first, means, np.inf)
    lowest_on = np.flip(np.minimum.accumulate(np.flip(means, axis=2), axis=2), axis=2)
    return np.where(first <= last, lowest_on, -np.inf).max(axis=1)


def _node_weights(colours: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """How much pixel weight each lattice node carries in trilinear interpolation ([b][g][r])."""
    coords = colours * (size - 1)
    base = np.minimum(np.floor(coords).astype(np.int64), size - 2)
    frac = coords - base
    out = np.zeros(size**3)
    for db, dg, dr in _CORNERS:
        corner = (
            (frac[:, 0] if dr else 1 - frac[:, 0])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 2] if db else 1 - frac[:, 2])
        )
        index = ((base[:, 2] + db) * size + base[:, 1] + dg) * size + base[:, 0] + dr
        out += np.bincount(index, weights=corner * weights, minlength=size**3)
    return out.reshape(size, size, size)


def fit_affine(originals: list[np.ndarray], stylized: list[np.ndarray]) -> np.ndarray:
    """The global least-squares colour map (3x4, [0, 1] units): stylized ~ M[:, :3] @ rgb + M[:, 3]."""
    colours, counts, targets = _grouped_pixels(originals, stylized)
    return _fit_affine(colours, counts / counts.sum(), targets).T.copy()


def apply_lut(rgb: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """`rgb` (...x3 uint8) through `lut` ([b][g][r] lattice) with trilinear interpolation; uint8 out, rounded."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"expected ...x3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
    lut = _check_lut(lut)
    out = _interpolate(rgb.reshape(-1, 3).astype(np.float32) / np.float32(255.0), lut.astype(np.float32))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).reshape(rgb.shape)


def _interpolate(colours: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of the [b][g][r] lattice `lut` at colours (n x 3 RGB in [0, 1])."""
    size = lut.shape[0]
    flat_lut = lut.reshape(-1, 3)
    coords = np.clip(colours, 0, 1) * (size - 1)
    base = np.minimum(coords.astype(np.int64), size - 2)
    frac = coords - base
    out = np.zeros(coords.shape, flat_lut.dtype)
    for db, dg, dr in _CORNERS:
        weight = (
            (frac[:, 0] if dr else 1 - frac[:, 0])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 2] if db else 1 - frac[:, 2])
        )
        index = ((base[:, 2] + db) * size + base[:, 1] + dg) * size + base[:, 0] + dr
        out += weight[:, None] * flat_lut[index]
    return out


def write_cube(path: str, lut: np.ndarray, title: str) -> None:
    """Write `lut` ([b][g][r] lattice) as an Adobe/Resolve .cube; raises OSError if `path` cannot be written."""
    lut = _check_lut(lut)
    if not np.isfinite(lut).all():
        raise ValueError("LUT has non-finite values")
    clean_title = " ".join(str(title).replace('"', "'").split())
    size = lut.shape[0]
    header = f'TITLE "{clean_title}"\nLUT_3D_SIZE {size}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n'
    rows = np.clip(lut, 0.0, 1.0).reshape(-1, 3).astype(np.float64)
    with open(os.fspath(path), "w", encoding="ascii", newline="\n") as out:
        out.write(header)
        np.savetxt(out, rows, fmt="%.6f", delimiter=" ")


def read_cube(path: str) -> np.ndarray:
    """Parse a 3D .cube file into a (N, N, N, 3) float32 [b][g][r] lattice; ValueError if it is malformed."""
    with open(os.fspath(path), encoding="utf-8", errors="replace") as source:
        lines = source.read().splitlines()
    size = None
    domain = {"DOMAIN_MIN": [0.0, 0.0, 0.0], "DOMAIN_MAX": [1.0, 1.0, 1.0]}
    rows: list[list[float]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word = line.split()[0]
        if word[0].isalpha() or word[0] == "_":
            if rows:
                raise ValueError(f"{path}:{number}: keyword {word} after the data started")
            keyword = word.upper()
            fields = line.split()[1:]
            if keyword == "TITLE":
                continue
            if keyword == "LUT_3D_SIZE":
                if size is not None:
                    raise ValueError(f"{path}:{number}: LUT_3D_SIZE given twice")
                if len(fields) != 1 or not fields[0].isdigit():
                    raise ValueError(f"{path}:{number}: LUT_3D_SIZE needs one integer, got {line!r}")
                size = int(fields[0])
                if not 2 <= size <= MAX_SIZE:
                    raise ValueError(f"{path}:{number}: LUT_3D_SIZE {size} out of range 2..{MAX_SIZE}")
            elif keyword == "LUT_1D_SIZE":
                raise ValueError(f"{path}:{number}: a 1D LUT, not a 3D one")
            elif keyword in domain:
                domain[keyword] = _floats(fields, path, number, line)
            elif keyword == "LUT_3D_INPUT_RANGE":
                values = _floats(fields, path, number, line, count=2)
                domain["DOMAIN_MIN"], domain["DOMAIN_MAX"] = [values[0]] * 3, [values[1]] * 3
            else:
                raise ValueError(f"{path}:{number}: unknown keyword {word}")
            continue
        rows.append(_floats(line.split(), path, number, line))
    if size is None:
        raise ValueError(f"{path}: no LUT_3D_SIZE line")
    if domain["DOMAIN_MIN"] != [0.0, 0.0, 0.0] or domain["DOMAIN_MAX"] != [1.0, 1.0, 1.0]:
        raise ValueError(
            f"{path}: only the domain 0..1 is supported, got {domain['DOMAIN_MIN']}..{domain['DOMAIN_MAX']}"
        )
    if len(rows) != size**3:
        raise ValueError(f"{path}: LUT_3D_SIZE {size} needs {size**3} data lines, found {len(rows)}")
    return np.asarray(rows, np.float32).reshape(size, size, size, 3)


def _floats(fields: list[str], path: str, number: int, line: str, count: int = 3) -> list[float]:
    if len(fields) != count:
        raise ValueError(f"{path}:{number}: expected {count} numbers, got {line!r}")
    try:
        values = [float(field) for field in fields]
    except ValueError:
        raise ValueError(f"{path}:{number}: not numbers: {line!r}") from None
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"{path}:{number}: non-finite value in {line!r}")
    return values


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 2 <= size <= MAX_FIT_SIZE:
        raise ValueError(f"LUT size must be an integer in 2..{MAX_FIT_SIZE}, got {size!r}")
    return int(size)


def _check_lut(lut: np.ndarray) -> np.ndarray:
    lut = np.asarray(lut)
    if lut.ndim != 4 or lut.shape[-1] != 3 or not (lut.shape[0] == lut.shape[1] == lut.shape[2] >= 2):
        raise ValueError(f"expected an (N, N, N, 3) LUT, got shape {lut.shape}")
    return lut


def _grouped_pixels(originals: list[np.ndarray], stylized: list[np.ndarray]):
    """Distinct original colours ([0, 1], Ux3), their pixel counts and their mean stylized colour ([0, 1], Ux3)."""
    if len(originals) != len(stylized) or not originals:
        raise ValueError(f"need matching non-empty lists of frames, got {len(originals)} and {len(stylized)}")
    keys, values = [], []
    for i, (original, styled) in enumerate(zip(originals, stylized, strict=True)):
        for name, image in (("original", original), ("stylized", styled)):
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"{name} frame {i}: expected HxWx3 uint8 RGB, got {getattr(image, 'shape', image)}")
        height, width = original.shape[:2]
        if styled.shape[:2] != (height, width):
            shrinking = styled.shape[0] * styled.shape[1] > height * width
            styled = cv2.resize(
                np.ascontiguousarray(styled),
                (width, height),
                interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
            )
        pixels = original.reshape(-1, 3).astype(np.int64)
        keys.append((pixels[:, 2] << 16) | (pixels[:, 1] << 8) | pixels[:, 0])
        values.append(styled.reshape(-1, 3))
    key = np.concatenate(keys)
    value = np.concatenate(values).astype(np.float64)
    unique, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, minlength=unique.size).astype(np.float64)
    sums = np.stack([np.bincount(inverse, weights=value[:, c], minlength=unique.size) for c in range(3)], axis=1)
    colours = np.stack([unique & 255, (unique >> 8) & 255, unique >> 16], axis=1) / 255.0
    return colours, counts, sums / counts[:, None] / 255.0


def _fit_affine(colours: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """4x3 matrix A with targets ~ [colours, 1] @ A, weighted least squares, ridge toward the identity map."""
    design = np.concatenate([colours, np.ones((colours.shape[0], 1))], axis=1)
    normal = design.T @ (design * weights[:, None]) + RIDGE * np.eye(4)
    prior = np.vstack([np.eye(3), np.zeros((1, 3))])
    rhs = design.T @ (targets * weights[:, None]) + RIDGE * prior
    return np.linalg.solve(normal, rhs)


def _apply_affine(colours: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return colours @ affine[:3] + affine[3]


def _fit_residual(colours: np.ndarray, weights: np.ndarray, residual: np.ndarray, size: int) -> np.ndarray:
    """The smooth (size, size, size, 3) [b][g][r] lattice field whose trilinear interpolation best fits `residual`."""
    coords = colours * (size - 1)
    base = np.minimum(np.floor(coords).astype(np.int64), size - 2)
    frac = coords - base
    corner_index, corner_weight = [], []
    for db, dg, dr in _CORNERS:
        corner_weight.append(
            (frac[:, 0] if dr else 1 - frac[:, 0])
            * (frac[:, 1] if dg else 1 - frac[:, 1])
            * (frac[:, 2] if db else 1 - frac[:, 2])
        )
        corner_index.append(((base[:, 2] + db) * size + base[:, 1] + dg) * size + base[:, 0] + dr)
    nodes = size**3
    # Normal matrix of the data term as 27 bands: band[o][k] couples node k with node k + offset o.
    band = np.zeros((27, nodes))
    rhs = np.zeros((nodes, 3))
    for i in range(8):
        wi = corner_weight[i] * weights
        for c in range(3):
            rhs[:, c] += np.bincount(corner_index[i], weights=wi * residual[:, c], minlength=nodes)
        for j in range(i, 8):
            db, dg, dr = (int(v) for v in _CORNERS[j] - _CORNERS[i])
            o = (db + 1) * 9 + (dg + 1) * 3 + (dr + 1)
            coupling = np.bincount(corner_index[i], weights=wi * corner_weight[j], minlength=nodes)
            band[o] += coupling
            if j != i:  # the symmetric entry, held by node k + offset: the same values one offset along
                shift = (db * size + dg) * size + dr
                band[26 - o, shift:] += coupling[: nodes - shift]
    band = band.reshape(27, size, size, size)
    centre = band[13]
    reached = centre[centre > 0]
    lam = SMOOTHNESS * (float(reached.mean()) if reached.size else 1.0)
    mu = DECAY * lam
    # The membrane (graph Laplacian of the lattice, free faces) and the decay join the bands.
    faces = {4: (0, slice(1, None)), 22: (0, slice(None, -1)), 10: (1, slice(1, None))}
    faces |= {16: (1, slice(None, -1)), 12: (2, slice(1, None)), 14: (2, slice(None, -1))}
    for o, (axis, part) in faces.items():  # o: the band of the neighbour one step along -/+ axis
        index = [slice(None)] * 3
        index[axis] = part
        band[o][tuple(index)] -= lam
        band[13][tuple(index)] += lam
    band[13] += mu
    # Solve on a zero-padded, flattened lattice: every neighbour is then a fixed offset in one array.
    side = size + 2
    padded_band = np.zeros((27, side, side, side))
    padded_band[:, 1:-1, 1:-1, 1:-1] = band
    first, stop = side * side + side + 1, (size * side + size) * side + size + 1
    bands = [padded_band[o].reshape(-1)[first:stop].astype(np.float32) for o in range(27)]
    shifts = [(o // 9 - 1) * side * side + (o // 3 % 3 - 1) * side + (o % 3 - 1) for o in range(27)]
    active = [o for o in range(27) if bands[o].any()]
    padded_rhs = np.zeros((3, side, side, side), np.float32)
    padded_rhs[:, 1:-1, 1:-1, 1:-1] = rhs.reshape(size, size, size, 3).transpose(3, 0, 1, 2)
    padded_rhs = padded_rhs.reshape(3, -1)
    inverse_diagonal = np.zeros(side**3, np.float32)
    inverse_diagonal[first:stop] = np.where(bands[13] > 0, 1.0 / np.where(bands[13] > 0, bands[13], 1.0), 0.0)
    term = np.empty((3, stop - first), np.float32)

    def operator(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        span = out[:, first:stop]
        for o in active:
            np.multiply(bands[o], x[:, first + shifts[o] : stop + shifts[o]], out=term)
            span += term
        return out

    solution = _conjugate_gradient(operator, padded_rhs, inverse_diagonal)
    return solution.reshape(3, side, side, side)[:, 1:-1, 1:-1, 1:-1].transpose(1, 2, 3, 0).astype(np.float64)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-channel dot products of (3, n) arrays."""
    return np.array([float(np.dot(a[c], b[c])) for c in range(a.shape[0])])


def _conjugate_gradient(operator, rhs: np.ndarray, inverse_diagonal: np.ndarray) -> np.ndarray:
    """Jacobi-preconditioned CG on (3, n) float32 arrays: the three channels at once, each with its own steps."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = r * inverse_diagonal
    p = z.copy()
    rz = _dot(r, z)
    target = CG_TOLERANCE**2 * np.maximum(_dot(rhs, rhs), 1e-300)
    for _ in range(CG_MAX_ITERATIONS):
        if (_dot(r, r) <= target).all():
            break
        q = operator(p)
        pq = _dot(p, q)
        alpha = np.where(pq > 0, rz / np.where(pq > 0, pq, 1.0), 0.0).astype(np.float32)[:, None]
        x += alpha * p
        r -= alpha * q
        z = r * inverse_diagonal
        rz_next = _dot(r, z)
        beta = np.where(rz > 0, rz_next / np.where(rz > 0, rz, 1.0), 0.0).astype(np.float32)[:, None]
        p = z + beta * p
        rz = rz_next
    return x
