"""Quality metrics, exactly as DESIGN.md defines them. Frames are HxWx3 uint8 RGB.

- warping_error: temporal consistency (Lai et al., ECCV'18). Flow is computed on
  the *input* frames with Farneback (not DIS, which the system itself uses), and
  occlusions and motion boundaries are masked by the forward-backward test of
  Ruder et al. (GCPR'16). E = mean_t sum(M * ||O_t - warp(O_t+1)||^2) / sum(M),
  images in [0, 1], the squared norm taken over the three channels.
- psnr: of a frame against a reference (dB, 8-bit peak).
- edge_ssim: SSIM between the Sobel-magnitude maps of content and output
  (1.0 = structure untouched).
- style_distance_ratio: sliced Wasserstein distance between the Lab colour
  distributions of output and style photo, over the same distance for the
  unstyled content (lower = closer to the style).
- region_style_ratio: the same ratio label by label (Deep Photo Style Transfer's
  colour-coded masks, decoded by services.stylizer.masks), for labels covering at
  least 2% of both images; the content-area-weighted mean, None below two labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from services.stylizer.masks import check_labels

# -- temporal consistency ---------------------------------------------------------


def farneback_flow(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Flow on current's grid: current(x) ~ target(x + flow(x)). HxWx2 float32, pixels."""
    a = cv2.cvtColor(current, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 5, 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)


def _sample(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Ruder et al.'s mask: 1 where the forward flow is trusted, 0 at occlusions and motion boundaries.

    forward: t -> t+1 on t's grid; backward: t+1 -> t on t+1's grid.
    """
    height, width = forward.shape[:2]
    back_at = _sample(backward, forward)
    round_trip = forward + back_at
    occluded = (round_trip**2).sum(-1) > 0.01 * ((forward**2).sum(-1) + (back_at**2).sum(-1)) + 0.5
    du_dy, du_dx = np.gradient(forward[..., 0])
    dv_dy, dv_dx = np.gradient(forward[..., 1])
    boundary = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2 > 0.01 * (forward**2).sum(-1) + 0.002
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    target_x, target_y = xs + forward[..., 0], ys + forward[..., 1]
    outside = (target_x < 0) | (target_x > width - 1) | (target_y < 0) | (target_y > height - 1)
    return (~(occluded | boundary | outside)).astype(np.float32)


@dataclass
class ClipMotion:
    """The input clip's motion, measured once and shared by every output scored against it:
    forward[t] is the Farneback flow t -> t+1, masks[t] Ruder's consistency mask for it."""

    forward: list[np.ndarray]
    masks: list[np.ndarray]

    @classmethod
    def of(cls, inputs: Sequence[np.ndarray]) -> ClipMotion:
        forward, masks = [], []
        for t in range(len(inputs) - 1):
            flow = farneback_flow(inputs[t], inputs[t + 1])
            forward.append(flow)
            masks.append(consistency_mask(flow, farneback_flow(inputs[t + 1], inputs[t])))
        return cls(forward, masks)


def warping_errors(outputs: Sequence[np.ndarray], motion: ClipMotion) -> np.ndarray:
    """Per consecutive pair t (frames t and t+1): sum(M * ||O_t - warp(O_t+1)||^2) / sum(M), images
    in [0, 1]; NaN where the mask is empty. Length len(outputs) - 1."""
    if len(outputs) != len(motion.forward) + 1 or len(outputs) < 2:
        raise ValueError("need as many outputs as inputs, at least two")
    errors = np.full(len(motion.forward), np.nan)
    for t, (flow, mask) in enumerate(zip(motion.forward, motion.masks, strict=True)):
        if mask.sum() == 0:
            continue
        current = outputs[t].astype(np.float32) / 255.0
        warped = _sample(outputs[t + 1].astype(np.float32) / 255.0, flow)
        squared = ((current - warped) ** 2).sum(-1)
        errors[t] = float((mask * squared).sum() / mask.sum())
    return errors


def warping_error(
    outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray], motion: ClipMotion | None = None
) -> float:
    """Mean over consecutive pairs of the masked squared difference between O_t and warped O_t+1."""
    if len(outputs) != len(inputs) or len(inputs) < 2:
        raise ValueError("need as many outputs as inputs, at least two")
    errors = warping_errors(outputs, motion or ClipMotion.of(inputs))
    return float(np.nanmean(errors)) if np.isfinite(errors).any() else 0.0


# -- fidelity ---------------------------------------------------------------------


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def mean_psnr(images: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    """PSNR of the pooled squared error over all frames (identical frames would not give inf per frame)."""
    mse = np.mean(
        [np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) for a, b in zip(images, references, strict=True)]
    )
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


# -- photorealism -----------------------------------------------------------------


def sobel_magnitude(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """Mean SSIM (Wang et al. 2004) of two single-channel float maps, 11x11 Gaussian window, sigma 1.5."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(score.mean())


def edge_ssim(content: np.ndarray, output: np.ndarray) -> float:
    """SSIM of Sobel-magnitude maps; the range is the content map's (a Sobel of [0, 1] images)."""
    if content.shape != output.shape:
        output = cv2.resize(output, (content.shape[1], content.shape[0]), interpolation=cv2.INTER_AREA)
    edges_content, edges_output = sobel_magnitude(content), sobel_magnitude(output)
    return ssim(edges_content, edges_output, data_range=max(float(edges_content.max()), 1e-6))


# -- style strength ---------------------------------------------------------------


def lab_pixels(rgb: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return lab[rng.choice(len(lab), size=min(count, len(lab)), replace=len(lab) < count)]


def projected_quantiles(points: np.ndarray, projections: int = 64, seed: int = 0) -> np.ndarray:
    """Nx3 points -> 256 x projections quantiles of their projections on seeded random directions
    (linear interpolation, as np.quantile's default, from one sort instead of a partition per quantile)."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(projections, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    projected = np.sort(points @ directions.T, axis=0)
    position = np.linspace(0.0, 1.0, 256) * (len(points) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(points) - 1)
    fraction = (position - below)[:, None]
    low, high = projected[below], projected[above]
    return low + (high - low) * fraction


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two Nx3 point sets (equal quantiles on random directions)."""
    return quantile_distance(projected_quantiles(a, projections, seed), projected_quantiles(b, projections, seed))


def quantile_distance(pa: np.ndarray, pb: np.ndarray) -> float:
    return float(np.abs(pa - pb).mean())


def style_distance_ratio(output: np.ndarray, style: np.ndarray, content: np.ndarray, samples: int = 50_000) -> float:
    """SWD(output, style) / SWD(content, style) in Lab; 1.0 = no closer to the style than the input."""
    return PairScorer(style, content, samples=samples).style_ratio(output)


# Share of both images a label must cover to count in region_style_ratio.
MIN_REGION_SHARE = 0.02


def _region_lab(rgb: np.ndarray, region: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Lab colours (OpenCV's float convention) of the region's pixels picked by index."""
    pixels = rgb[region][index]
    return cv2.cvtColor(pixels[None].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[0]


def region_style_ratio(
    output: np.ndarray,
    style: np.ndarray,
    content: np.ndarray,
    content_labels: np.ndarray,
    style_labels: np.ndarray,
    samples: int = 20_000,
    min_share: float = MIN_REGION_SHARE,
) -> float | None:
    """Region-matched style strength: for each label covering >= min_share of both images,
    SWD(output in the content's region, style in the style's region) / SWD(content in the
    content's region, style in the style's region), Lab; the mean weighted by content area.

    Label maps are HxW integers (e.g. services.stylizer.masks.labels_from_mask); one of
    another size than its image is resized nearest-neighbour. None when fewer than two
    labels qualify. The unstyled content scores exactly 1 (the same pixels are sampled
    from output and content).
    """
    scorer = PairScorer(style, content, content_labels, style_labels, region_samples=samples, min_share=min_share)
    return scorer.region_ratio(output)


class PairScorer:
    """style_distance_ratio and region_style_ratio of many outputs against one content/style pair,
    with everything that does not depend on the output (the style's and the content's samples and
    their quantiles) computed once; the same random draws, so the same figures."""

    def __init__(
        self,
        style: np.ndarray,
        content: np.ndarray,
        content_labels: np.ndarray | None = None,
        style_labels: np.ndarray | None = None,
        samples: int = 50_000,
        region_samples: int = 20_000,
        min_share: float = MIN_REGION_SHARE,
    ):
        self.shape, self.samples = content.shape, samples
        rng = np.random.default_rng(0)
        self.style_quantiles = projected_quantiles(lab_pixels(style, samples, rng))
        self.baseline = quantile_distance(projected_quantiles(lab_pixels(content, samples, rng)), self.style_quantiles)
        self.output_draw = rng.bit_generator.state  # the output's pixels are the next draw
        self.regions: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
        self.weights: list[float] = []
        if content_labels is None or style_labels is None:
            return
        content_labels = check_labels(content_labels, (content.shape[1], content.shape[0]))
        style_labels = check_labels(style_labels, (style.shape[1], style.shape[0]))
        content_counts = np.bincount(content_labels.ravel(), minlength=256) / content_labels.size
        style_counts = np.bincount(style_labels.ravel(), minlength=256) / style_labels.size
        labels = np.flatnonzero((content_counts >= min_share) & (style_counts >= min_share))
        if len(labels) < 2:
            return
        rng = np.random.default_rng(0)
        for label in labels:
            in_content, in_style = content_labels == label, style_labels == label
            content_count, style_count = int(in_content.sum()), int(in_style.sum())
            pick = rng.choice(content_count, size=min(region_samples, content_count), replace=False)
            style_pick = rng.choice(style_count, size=min(region_samples, style_count), replace=False)
            style_quantiles = projected_quantiles(_region_lab(style, in_style, style_pick))
            baseline = quantile_distance(projected_quantiles(_region_lab(content, in_content, pick)), style_quantiles)
            self.regions.append((in_content, pick, style_quantiles, baseline))
            self.weights.append(content_counts[label])

    def _fit(self, output: np.ndarray) -> np.ndarray:
        if output.shape != self.shape:
            output = cv2.resize(output, (self.shape[1], self.shape[0]), interpolation=cv2.INTER_AREA)
        return output

    def style_ratio(self, output: np.ndarray) -> float:
        rng = np.random.default_rng(0)
        rng.bit_generator.state = self.output_draw
        pixels = lab_pixels(self._fit(output), self.samples, rng)
        return quantile_distance(projected_quantiles(pixels), self.style_quantiles) / max(self.baseline, 1e-9)

    def region_ratio(self, output: np.ndarray) -> float | None:
        """None when fewer than two labels cover min_share of both images (or no labels were given)."""
        if not self.regions:
            return None
        output = self._fit(output)
        ratios = []
        for in_content, pick, style_quantiles, baseline in self.regions:
            distance = quantile_distance(projected_quantiles(_region_lab(output, in_content, pick)), style_quantiles)
            ratios.append(distance / max(baseline, 1e-9))
        return float(np.average(ratios, weights=self.weights))
