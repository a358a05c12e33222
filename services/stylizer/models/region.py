"""Region-aware colour transfer: each part of the scene takes the look of the matching part of the style.

Closed form, no weights. Per session (encode_style) the style photo is cut into a few
soft regions by k-means on what the image says at a coarse scale: blurred Lab colour,
vertical position and texture (local luminance contrast); each region keeps its
prototype (k-means centre) and its colour statistics (mean and covariance, RGB).

Per key frame the content is first mapped globally onto the style (Monge-Kantorovich
affine map, as the `mkl` model), so that its colours live where the style's do; every
content pixel is then given soft memberships to the style's prototypes by one fixed
rule: a softmax of distances on matching cues (mostly vertical position and texture,
a little of the globally mapped colour, since a day sky and a dusk sky need not look
alike), optionally refined by EM steps on the content's own colours with each region's
identity held to its style prototype (off by default: in video they make the look follow
each frame's colours); no free per-frame clustering, so regions cannot swap between
frames. Optionally (transport_marginal, region_match) the content is instead cut into regions of its
own, seeded with the style's prototypes, and whole regions are matched to the style's by unbalanced
optimal transport between region descriptors (position, lightness, colour, texture, smoothness),
which lets the two photos divide their area differently. The memberships are made to follow the
content's edges by a guided filter wide enough to snap a coarse border onto the real one (no
halos) and to vary the look smoothly.
Each region gets the Monge-Kantorovich map from the content's colours in it to the
style's colours in its counterpart (regularised, gains bounded, and drawn towards the
global map where a region is small, and never compressing the content's luminance contrast in
the region below min_luma_gain of its own, so a lit window in a smooth sky stays lit); every
pixel's map is the
membership-weighted blend of the regions' maps, so the look varies smoothly in space
and never tears at a border (no seams or posterisation); a colour pushed past [0, 1] is drawn
towards the grey of its own luma (its brightness kept) rather than clipped per channel. After meta-smoothing, a share
of the content's fine luminance detail is restored at output resolution (two-scale, as
the `preset` model does).

Last, a whole-image Monge-Kantorovich map from the blended output's own colour statistics onto
the style photo's is applied (look_correction): at strength 1 the whole look comes as close to the
style's as one affine map can take it, and, that map moving every region alike, the regions keep
their differences.

Label masks, when the user has them, replace the automatic regions: label l of the
content takes the look of label l of the style; a content label the style lacks takes
the whole-image transfer; masks with no label in common are refused. A label gets only the
look its style counterpart can support: one that is small, nearly uniform or clipped is drawn
towards the whole-image transfer, and no label's map takes a colour past its style label's own
range further than the whole-image transfer does (no blotch brighter than the style).

Strength s in [0, 1] moves each affine map along the displacement interpolation of
optimal transport, x -> x + s (T x + t - x): s = 0 is the content's own look.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mvstylizer_common.errors import InvalidInputError
from services.stylizer.colour import LUMA_WEIGHTS, rgb_to_lab
from services.stylizer.detail import with_grey_detail
from services.stylizer.models.base import StyleModel
from services.stylizer.models.colour_transfer import mkl_transform
from services.stylizer.models.region_match import describe, lloyd, seeded_kmeans, transport_memberships
from services.stylizer.models.registry import register_model
from services.stylizer.upsample import box_mean

# The luma quantiles a region's tone curve is fitted through (its ends left out: a few clipped pixels
# should not bend the curve).
TONE_QUANTILES = torch.linspace(0.02, 0.98, 17)
TONE_LEVELS = len(TONE_QUANTILES)
TONE_LUT = 256  # entries of each region's tone curve over luma 0..1


@dataclass(frozen=True)
class RegionConfig:
    regions: int = 4  # k-means regions of the style photo (fewer survive if some are tiny)
    grid_long_side: int = 48  # long side of the coarse grid the regions are found on
    colour_weight: float = 1.0  # feature weights: Lab / 100
    position_weight: float = 0.6  # vertical position, 0 (top) .. 1 (bottom)
    texture_weight: float = 2.0  # local luminance std
    # The same, for matching content to the style's regions. Settings marked (cv) were chosen by
    # cross-validation on the 30 photo pairs (python -m benchmarks.stylizer --cv; MODEL_CARD.md).
    match_colour_weight: float = 0.15
    match_lightness_weight: float = 0.5  # its lightness channel (L / 100) (cv)
    match_position_weight: float = 1.0
    match_texture_weight: float = 4.0  # (cv)
    # Matching by unbalanced optimal transport between whole regions (region_match): the content is cut
    # into regions of its own, seeded with the style's prototypes, and each is matched as a whole
    # (position, lightness, colour, texture, smoothness) with its area held only by this KL weight on the
    # marginals. None: each content cell takes the style regions nearest to it (softmax of distances).
    transport_marginal: float | None = None  # (cv: both halves chose None)
    match_smoothness_weight: float = 0.25  # share of smooth cells, a region descriptor of the transport
    # Vertical position's weight between whole regions (in place of match_position_weight): a region's
    # mean row moves with its area, which may differ from its counterpart's.
    transport_position_weight: float = 0.5
    # With transport: weight of each cell's own nearest-prototype logits added to the transport's (0: the
    # region's match alone; 1: both, as a product of the two memberships).
    match_cell_weight: float = 1.0
    # With transport: vertical position's weight in cutting the content into its own regions, lower than
    # the style's so that a sky filling half the frame stays one region whatever the style's sky covers.
    content_position_weight: float = 0.15
    # EM steps on the content's own colours, region identities held. Off by default: they sharpen
    # borders on stills (region ratio 0.35 -> 0.32 on the shared pairs) but make memberships follow
    # each frame's colours, and in video the look then varies between frames (PSNR of key interval
    # 10 against frame-by-frame 38.3 -> 37.0 dB on bikes.mp4).
    refine_steps: int = 0
    # Softness of the memberships (feature distance units): soft enough that a small change in a
    # frame moves the look a little, not across a region border.
    temperature: float = 0.12
    min_region_share: float = 0.03  # style regions smaller than this are dropped
    shrink_share: float = 0.05  # a content region of this share trusts its own statistics half-way
    # What a style region can support (see half_way): one of this share of the style photo and one
    # whose luminance std is uniform_std are each trusted half-way, one with a share c of clipped
    # pixels (luma past clip_luma or below 1 - clip_luma) 1 - c^2 of the way (the factors multiply);
    # the rest of its map is the whole-image transfer.
    style_shrink_share: float = 0.005
    uniform_std: float = 0.002
    clip_luma: float = 0.97
    # A region's map never takes a colour past its style region's own range (per RGB channel, these
    # quantiles) further than the whole-image transfer takes it: no blotch brighter than the style.
    range_quantile: float = 0.005
    auto_range_bound: bool = False  # the same bound for the automatic regions
    global_share: float = 0.0  # share of the whole-image transfer in every region's map
    # Share of a final whole-image correction of the blended output's colour statistics onto the
    # style's: regions keep their differences, the whole comes as close to the style as one map can.
    # (cv): the whole look at strength 1 comes as close to the style's as `preset` does.
    look_correction: float = 1.0
    # The same with label masks (None: look_correction). Half-way (cv, with the tone curves: half A
    # chose 1 and scored 0.5 as well, half B chose 0.5): the labels' looks differ a little less than
    # with none, and the whole look comes closer to the style's than `preset`'s does.
    mask_look_correction: float | None = 0.5
    # Share of each region's tone curve applied after its affine map: the region's luma distribution
    # (not only its mean and spread) moved onto its style counterpart's, by a monotone curve whose
    # slope stays within [tone_min_slope, tone_max_slope] (no posterisation, no crushed edges).
    tone_share: float = 0.0
    tone_min_slope: float = 0.4
    tone_max_slope: float = 2.5
    # With label masks (None: tone_share). The automatic regions keep none: every variant tried took
    # bikes.mp4's key interval 10 from 38.0 dB against frame by frame to 35.3-37.1 dB.
    mask_tone_share: float | None = 0.5  # (cv)
    # Where each curve starts: False, the frame's own luma quantiles in the region; True, the style
    # region's luma taken as Gaussian (what the region's affine map aims at), a curve of the style alone.
    tone_from_style: bool = False
    cov_floor: float = 0.02**2  # added to every region's colour covariance (RGB variance)
    max_gain: float = 3.0  # largest gain a region's map may apply along any colour direction
    # Least gain along any colour direction: a region may lose this much of its colour, no more (a
    # black-and-white style region needs near 0 along the chroma directions to turn the region grey).
    min_gain: float = 0.05  # (cv)
    # Least luminance gain (share of the content's own contrast) a region's map keeps: enough that a
    # lit window in a smooth sky stays lit; higher floors add contrast frame by frame that the
    # video's temporal error pays for (bikes.mp4 frame-by-frame warping error +30% at 0.55).
    min_luma_gain: float = 0.4
    # Guided filter on the memberships: radius, share of the long side. Wide enough that the look
    # varies smoothly in space, which the interpolator's colour maps then carry between key frames
    # (bikes.mp4, key interval 10 against frame-by-frame: 37.8 dB at 1/16, 39.0 dB at this).
    edge_radius_fraction: float = 0.105
    edge_eps: float = 1e-4  # its regularisation (grey-level variance)
    # The same for label masks, drawn near the edges already: narrow, so that a label's look spreads
    # little past its border (a thinner rim where a mask is a little larger than its object) (cv).
    mask_edge_radius_fraction: float = 1 / 64
    detail_share: float = 0.8  # share of lost fine luminance detail restored at output resolution
    detail_radius_fraction: float = 1 / 128
    detail_eps: float = 0.01
    # Then the share of the content's grey detail finer than a Gaussian of this many pixels given back,
    # edges included (services/stylizer/detail.py): the structure kept where the map changes contrast
    # (cv: both halves chose all of it, at 2 pixels).
    fine_grey_share: float = 1.0
    fine_grey_sigma: float = 2.0
    kmeans_iterations: int = 25
    texture_cell: int = 4  # texture is the luminance std within grid cells of this many pixels a side
    stats_stride: int = 2  # colour statistics from every stride-th pixel along each axis


@dataclass
class RegionStats:
    """Colour statistics of soft regions, RGB float64: means Kx3x1, covariances Kx3x3, shares K;
    for a style's regions also how far each can be trusted (K, 0..1) and its colour range (Kx3x1)."""

    mean: torch.Tensor
    cov: torch.Tensor
    share: torch.Tensor
    support: torch.Tensor | None = None
    low: torch.Tensor | None = None
    high: torch.Tensor | None = None
    luma_quantiles: torch.Tensor | None = None  # KxQ quantiles of each region's luma (TONE_LEVELS)

    def pick(self, index: torch.Tensor) -> RegionStats:
        """The regions at index, in that order."""
        fields = (self.mean, self.cov, self.share, self.support, self.low, self.high, self.luma_quantiles)
        return RegionStats(*(None if f is None else f[index] for f in fields))


@dataclass
class RegionLook:
    """One frame's regional look: KxN memberships, each region's affine map (Kx3x3 gains, Kx3x1
    offsets), the whole-image map (3x3, 3x1) and, if bounded, each region's style colour range (Kx3x1)."""

    weights: torch.Tensor
    gains: torch.Tensor
    offsets: torch.Tensor
    global_gain: torch.Tensor
    global_offset: torch.Tensor
    low: torch.Tensor | None = None
    high: torch.Tensor | None = None
    # Each region's style counterpart's luma quantiles (KxQ) and how far its tone curve is trusted (K);
    # None: no tone curves.
    tone_targets: torch.Tensor | None = None
    tone_trust: torch.Tensor | None = None
    tone_sources: torch.Tensor | None = None  # KxQ luma quantiles the curves start from (None: the frame's)


@dataclass
class RegionStyle:
    """A style photo, encoded once per session."""

    mean: torch.Tensor  # 1x3x1 whole-photo colour mean (float64)
    cov: torch.Tensor  # 1x3x3 whole-photo colour covariance (float64)
    prototypes: torch.Tensor  # KxF feature centres of the automatic regions
    regions: RegionStats  # colour statistics of the automatic regions
    # Region descriptors (Kx6: Lab / 100, row, texture, smoothness) and area shares (K) on the coarse grid,
    # for matching by transport (region_match).
    descriptors: torch.Tensor | None = None
    descriptor_shares: torch.Tensor | None = None
    labels: list[int] = field(default_factory=list)  # labels of the style's mask, if one was given
    label_regions: RegionStats | None = None  # their colour statistics


def _as_label_tensor(labels, height: int, width: int) -> torch.Tensor:
    """Label map (numpy or tensor, HxW or 1xHxW) -> HxW int64 tensor at (height, width), nearest-neighbour."""
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(f"a label map must be an HxW integer array, got {array.dtype} {array.shape}")
    if array.shape != (height, width):
        array = cv2.resize(array.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return torch.from_numpy(np.ascontiguousarray(array).astype(np.int64))


def weighted_stats(pixels: torch.Tensor, weights: torch.Tensor) -> RegionStats:
    """pixels 3xN, weights KxN (soft memberships) -> per-region mean, covariance and share (float64)."""
    pixels, weights = pixels.float(), weights.float()
    mass = weights.sum(dim=1)
    safe = mass.clamp_min(1e-9)
    mean = (weights @ pixels.T) / safe[:, None]  # Kx3
    # Centred on the whole set's mean (float32 stays accurate), then shifted to each region's.
    centre = pixels.mean(dim=1, keepdim=True)
    centred = pixels - centre
    second = torch.bmm(weights[:, None, :] * centred[None], centred.T.expand(len(weights), -1, -1))
    second = second.double() / safe.double()[:, None, None]
    offset = (mean - centre.T).double()
    cov = second - offset[:, :, None] * offset[:, None, :]
    mean = mean.double()
    # A region with less than a pixel's worth of mass (a label the subsample missed) has no statistics
    # of its own: it gets the whole set's, never the noise of a division by almost nothing.
    empty = mass < 1.0
    if bool(empty.any()):
        whole = (centred.double() @ centred.double().T) / pixels.shape[1]
        mean[empty] = centre.double().T
        cov[empty] = whole
    return RegionStats(mean[:, :, None], cov, (mass / pixels.shape[1]).double())


def describe_support(stats: RegionStats, pixels: torch.Tensor, assignment: torch.Tensor, config) -> RegionStats:
    """Style regions' statistics, pixels 3xN and each pixel's region (N, int) -> the same statistics
    with how far each region can be trusted and its colour range (per-channel quantiles)."""
    pixels = pixels.double()
    luma_weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64)
    luma = luma_weights @ pixels
    spread = luma_variance(stats.cov).clamp_min(0.0).sqrt()
    count = len(stats.share)
    low, high = torch.zeros(count, 3, 1, dtype=torch.float64), torch.ones(count, 3, 1, dtype=torch.float64)
    levels = torch.linspace(0.0, 1.0, TONE_LEVELS, dtype=torch.float64)
    luma_quantiles = levels.expand(count, -1).clone()
    clipped = torch.zeros(count, dtype=torch.float64)
    q = torch.tensor([config.range_quantile, 1.0 - config.range_quantile], dtype=torch.float64)
    for k in range(count):
        inside = assignment == k
        if not bool(inside.any()):
            continue
        ranges = torch.quantile(pixels[:, inside], q, dim=1)  # 2x3
        low[k, :, 0], high[k, :, 0] = ranges[0], ranges[1]
        region_luma = luma[inside]
        luma_quantiles[k] = torch.quantile(region_luma, TONE_QUANTILES.double())
        clipped[k] = ((region_luma > config.clip_luma) | (region_luma < 1.0 - config.clip_luma)).double().mean()
    support = half_way(stats.share, config.style_shrink_share) * half_way(spread, config.uniform_std) * (1 - clipped**2)
    return RegionStats(stats.mean, stats.cov, stats.share, support, low, high, luma_quantiles)


def weighted_quantiles(values: torch.Tensor, weights: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """values N, soft memberships KxN, levels Q in (0, 1) -> KxQ quantiles of each region's values."""
    order = values.argsort()
    ordered = values[order]
    cumulative = weights[:, order].cumsum(dim=1)
    cumulative = cumulative / cumulative[:, -1:].clamp_min(1e-9)
    index = torch.searchsorted(cumulative.contiguous(), levels.to(cumulative).expand(len(weights), -1).contiguous())
    return ordered[index.clamp(max=len(values) - 1)]


def tone_curves(sources: torch.Tensor, targets: torch.Tensor, min_slope: float, max_slope: float) -> torch.Tensor:
    """KxQ source and target quantiles -> KxTONE_LUT monotone curves over luma 0..1 through them,
    each segment's slope held within [min_slope, max_slope], anchored at the median and continued with
    slope 1 beyond the outer quantiles."""
    gaps = (sources[:, 1:] - sources[:, :-1]).clamp_min(1e-3)
    slopes = ((targets[:, 1:] - targets[:, :-1]) / gaps).clamp(min_slope, max_slope)
    middle = sources.shape[1] // 2
    steps = slopes * gaps
    rises = torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(dim=1)], dim=1)
    knots_y = targets[:, middle : middle + 1] + rises - rises[:, middle : middle + 1]
    knots_x = sources[:, :1] + torch.cat([torch.zeros_like(gaps[:, :1]), gaps.cumsum(dim=1)], dim=1)
    grid = torch.linspace(0.0, 1.0, TONE_LUT, dtype=sources.dtype)
    curves = torch.empty(len(sources), TONE_LUT, dtype=sources.dtype)
    for k in range(len(sources)):
        x, y = knots_x[k], knots_y[k]
        segment = (torch.searchsorted(x.contiguous(), grid) - 1).clamp(0, len(x) - 2)
        slope = torch.where((grid < x[0]) | (grid > x[-1]), torch.ones_like(grid), slopes[k][segment])
        start = torch.where(grid < x[0], 0, torch.where(grid > x[-1], len(x) - 1, segment))
        curves[k] = y[start] + slope * (grid - x[start])
    return curves


def luma_variance(cov: torch.Tensor) -> torch.Tensor:
    """Kx3x3 RGB covariances -> K variances of their luma."""
    luma = torch.tensor(LUMA_WEIGHTS, dtype=cov.dtype)
    return torch.einsum("i,kij,j->k", luma, cov, luma)


def half_way(value: torch.Tensor, scale: float) -> torch.Tensor:
    """0 at value 0, 1/2 at value = scale, towards 1 beyond (value^2 / (value^2 + scale^2)); 1 if scale is 0."""
    if scale <= 0.0:
        return torch.ones_like(value)
    return value.square() / (value.square() + scale**2)


def subsample(flat: torch.Tensor, height: int, width: int, stride: int) -> torch.Tensor:
    """CxN planes of an HxW image -> every stride-th pixel along each axis, Cx(N/stride^2)."""
    if stride <= 1:
        return flat
    return flat.view(flat.shape[0], height, width)[:, ::stride, ::stride].reshape(flat.shape[0], -1)


class RegionTransfer(StyleModel):
    """Automatic (or mask-guided) region-matched Monge-Kantorovich colour transfer."""

    supports_labels = True
    supports_strength = True

    def __init__(self, config: RegionConfig | None = None):
        super().__init__()
        self.config = config or RegionConfig()

    # -- features ---------------------------------------------------------------

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        factor = min(1.0, self.config.grid_long_side / max(height, width))
        return max(2, round(height * factor)), max(2, round(width * factor))

    def raw_features(self, image: torch.Tensor) -> torch.Tensor:
        """1x3xHxW RGB in [0, 1] -> (h*w)x5 coarse-grid features, unweighted: Lab / 100, row (0 top
        .. 1 bottom), local luminance std."""
        height, width = image.shape[-2:]
        gh, gw = self.grid_size(height, width)
        image = image.float().clamp(0.0, 1.0)
        # Texture is measured at one fixed scale (texture_cell grid cells' worth of pixels), whatever the
        # working resolution, so that the content's and the style's compare.
        cell = self.config.texture_cell
        if image.shape[-2] > gh * cell or image.shape[-1] > gw * cell:
            image = F.adaptive_avg_pool2d(image, (gh * cell, gw * cell))
        small = F.adaptive_avg_pool2d(image, (gh, gw))
        luma = image.mean(dim=1, keepdim=True)
        luma_mean = F.adaptive_avg_pool2d(luma, (gh, gw))
        luma_sq = F.adaptive_avg_pool2d(luma * luma, (gh, gw))
        texture = (luma_sq - luma_mean * luma_mean).clamp_min(0.0).sqrt()
        rows = torch.linspace(0.0, 1.0, gh, dtype=torch.float32).view(1, 1, gh, 1).expand(1, 1, gh, gw)
        return torch.cat([rgb_to_lab(small) / 100.0, rows, texture], dim=1)[0].flatten(1).T

    def weights(self, lightness: float, colour: float, position: float, texture: float) -> torch.Tensor:
        return torch.tensor([lightness, colour, colour, position, texture], dtype=torch.float32)

    def segment_weights(self) -> torch.Tensor:
        c = self.config
        return self.weights(c.colour_weight, c.colour_weight, c.position_weight, c.texture_weight)

    def match_weights(self) -> torch.Tensor:
        c = self.config
        return self.weights(
            c.match_lightness_weight, c.match_colour_weight, c.match_position_weight, c.match_texture_weight
        )

    def logits(self, features: torch.Tensor, prototypes: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """NxF features, KxF prototypes (unweighted) -> NxK -distance^2 / (2 temperature^2)."""
        distance = torch.cdist(features * weights, prototypes * weights).pow(2)
        return -distance / (2 * self.config.temperature**2)

    def content_logits(self, content: torch.Tensor, mapped: torch.Tensor, style: RegionStyle) -> torch.Tensor:
        """Coarse-grid NxK logits of the content's pixels for the style's regions, by a fixed rule:
        matching cues (position, texture, colour once mapped globally onto the style) against the
        style's prototypes, then refine_steps EM steps on the content's own colours with the region
        identities held (so a region's border follows the content's edges, and no order can flip)."""
        own = self.raw_features(content)
        matched = self.raw_features(mapped)
        seg = self.segment_weights()
        prior = self.logits(matched, style.prototypes, self.match_weights())
        if self.config.transport_marginal is not None and style.descriptors is not None:
            prior = self.transport_logits(matched, style) + self.config.match_cell_weight * prior
        logits = prior
        for _ in range(self.config.refine_steps):
            member = torch.softmax(logits, dim=1)
            mass = member.sum(dim=0).clamp_min(1e-6)
            centres = (member.T @ own) / mass[:, None]
            logits = prior + self.logits(own, centres, seg)
        return logits

    def transport_logits(self, matched: torch.Tensor, style: RegionStyle) -> torch.Tensor:
        """NxK logits from matching the content's own regions (k-means seeded with the style's
        prototypes, so every key frame starts alike) to the style's by unbalanced transport."""
        c = self.config
        seg = self.weights(c.colour_weight, c.colour_weight, c.content_position_weight, c.texture_weight)
        centres = seeded_kmeans(matched, style.prototypes, seg, c.kmeans_iterations)
        member = torch.softmax(self.logits(matched, centres, seg), dim=1)
        weights = self.weights(
            c.match_lightness_weight, c.match_colour_weight, c.transport_position_weight, c.match_texture_weight
        )
        weights = torch.cat([weights, torch.tensor([c.match_smoothness_weight])])
        spread = transport_memberships(
            matched,
            member,
            style.descriptors,
            style.descriptor_shares,
            weights,
            2 * c.temperature**2,
            c.transport_marginal,
        )
        return spread.clamp_min(1e-12).log().float()

    def kmeans(self, raw: torch.Tensor) -> torch.Tensor:
        """NxF raw features -> KxF centres (unweighted), k-means on the segmentation-weighted features;
        deterministic (farthest-point initialisation from the mean)."""
        c = self.config
        weights = self.segment_weights()
        features = raw * weights
        centre = features.mean(dim=0, keepdim=True)
        first = torch.cdist(features, centre)[:, 0].argmax()
        centres = [features[first]]
        for _ in range(1, min(c.regions, features.shape[0])):
            distance = torch.cdist(features, torch.stack(centres)).min(dim=1).values
            centres.append(features[distance.argmax()])
        centres_t = lloyd(features, torch.stack(centres), c.kmeans_iterations)
        nearest = torch.cdist(features, centres_t).argmin(dim=1)
        share = torch.bincount(nearest, minlength=len(centres_t)).float() / features.shape[0]
        keep = share >= c.min_region_share
        centres_t = centres_t[keep] if keep.any() else features.mean(dim=0, keepdim=True)
        return centres_t / weights.clamp_min(1e-6)

    def to_full(self, logits: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """Coarse-grid NxK logits -> KxHxW memberships at guide's size (1x3xHxW), following its edges."""
        height, width = guide.shape[-2:]
        gh, gw = self.grid_size(height, width)
        coarse = torch.softmax(logits, dim=1).T.reshape(1, -1, gh, gw).float()
        return self.follow_edges(coarse, guide)[0]

    def follow_edges(
        self, weights: torch.Tensor, guide: torch.Tensor, radius_fraction: float | None = None
    ) -> torch.Tensor:
        """Memberships 1xKxhxw (any size) -> 1xKxHxW at guide's size, edges following the guide's:
        a guided filter with the grey guide, fitted at half resolution and applied at full (the fast
        guided filter, He & Sun 2015); renormalised to sum to 1."""
        height, width = guide.shape[-2:]
        grey_full = guide.float().mean(dim=1, keepdim=True)
        low_size = (max(1, height // 2), max(1, width // 2))
        grey = F.adaptive_avg_pool2d(grey_full, low_size) if low_size != (height, width) else grey_full
        if weights.shape[-2:] != low_size:
            # Upsampled coarse memberships are smooth; a mask at full size is averaged down.
            smaller = weights.shape[-2] < low_size[0]
            weights = (
                F.interpolate(weights, size=low_size, mode="bilinear", align_corners=False)
                if smaller
                else F.adaptive_avg_pool2d(weights, low_size)
            )
        fraction = self.config.edge_radius_fraction if radius_fraction is None else radius_fraction
        radius = max(1, round(max(low_size) * fraction))
        mean_i = box_mean(grey, radius)
        var_i = (box_mean(grey * grey, radius) - mean_i * mean_i).clamp_min(0.0)
        mean_p = box_mean(weights, radius)
        cov_ip = box_mean(grey * weights, radius) - mean_i * mean_p
        a = cov_ip / (var_i + self.config.edge_eps)
        b = mean_p - a * mean_i
        coefficients = torch.cat([box_mean(a, radius), box_mean(b, radius)], dim=1)
        if low_size != (height, width):
            coefficients = F.interpolate(coefficients, size=(height, width), mode="bilinear", align_corners=False)
        count = weights.shape[1]
        out = (coefficients[:, :count] * grey_full + coefficients[:, count:]).clamp_min(0.0)
        return out / out.sum(dim=1, keepdim=True).clamp_min(1e-6)

    # -- transfer ---------------------------------------------------------------

    def region_maps(
        self, content: RegionStats, style: RegionStats, global_map: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kx3x3 gains and Kx3x1 offsets: each region's Monge-Kantorovich map, regularised and
        drawn towards the global map as the content region gets small, as its style region can support
        less (small, nearly uniform or clipped) and by global_share."""
        c = self.config
        eye = torch.eye(3, dtype=torch.float64)
        floor = c.cov_floor * eye
        transform, _ = gaussian_ot(content.mean, content.cov + floor, style.mean, style.cov + floor)
        transform = limit_gain(transform, c.max_gain, c.min_gain)
        trust = (1.0 - c.global_share) * self.region_trust(content, style).view(-1, 1, 1)
        global_t, global_s = global_map
        transform = trust * transform + (1 - trust) * global_t
        transform = floor_luma_gain(transform, content.cov + floor, c.min_luma_gain)
        # The offset keeps the region's mean going where its own map (or the global one) sends it.
        target = trust * style.mean + (1 - trust) * (global_t @ content.mean + global_s)
        return transform, target - transform @ content.mean

    def region_trust(self, content: RegionStats, style: RegionStats) -> torch.Tensor:
        """K: how far each region's own map is trusted, less as the content region gets small and as
        its style counterpart can support less (small, nearly uniform or clipped)."""
        trust = content.share / (content.share + self.config.shrink_share)
        return trust if style.support is None else trust * style.support

    def encode_style(self, style: torch.Tensor, labels=None) -> RegionStyle:
        """1x3xHxW style photo (and optionally its HxW label map) -> RegionStyle."""
        height, width = style.shape[-2:]
        flat = style[0].flatten(1).double()
        mean = flat.mean(dim=1, keepdim=True)
        centred = flat - mean
        cov = centred @ centred.T / flat.shape[1]
        raw = self.raw_features(style)
        prototypes = self.kmeans(raw)
        logits = self.logits(raw, prototypes, self.segment_weights())
        descriptors = shares = None
        if self.config.transport_marginal is not None:  # only the transport matching reads them
            descriptors, shares = describe(raw, torch.softmax(logits, dim=1))
        weights = self.to_full(logits, style).flatten(1)
        stride = self.config.stats_stride
        sample = subsample(flat, height, width, stride)
        sample_weights = subsample(weights, height, width, stride)
        regions = weighted_stats(sample, sample_weights)
        regions = describe_support(regions, sample, sample_weights.argmax(dim=0), self.config)
        code = RegionStyle(mean[None], cov[None], prototypes, regions, descriptors, shares)
        if labels is not None:
            label_map = _as_label_tensor(labels, *style.shape[-2:])
            present = torch.bincount(label_map.flatten(), minlength=256).double() / label_map.numel()
            code.labels = [int(label) for label in torch.nonzero(present > 0).flatten()]
            one_hot = torch.stack([(label_map == label).flatten().double() for label in code.labels])
            index = torch.searchsorted(torch.tensor(code.labels), label_map.flatten())
            code.label_regions = describe_support(weighted_stats(flat, one_hot), flat, index, self.config)
        return code

    def region_transforms(self, content: torch.Tensor, style: RegionStyle, labels=None) -> RegionLook:
        """1x3xHxW content -> its RegionLook: pixel n's map is sum_k w_kn (gain_k x + offset_k)."""
        height, width = content.shape[-2:]
        stride = self.config.stats_stride
        flat = content[0].flatten(1)
        sample = subsample(flat, height, width, stride).double()
        global_t, global_s = mkl_transform(sample[None], style.mean, style.cov)
        if labels is not None:
            return self.label_maps(content, sample, style, labels, (global_t, global_s))
        # The matching cues need the content mapped onto the style only at the features' scale.
        cell = self.config.texture_cell
        gh, gw = self.grid_size(height, width)
        small = (
            content
            if height <= gh * cell and width <= gw * cell
            else F.adaptive_avg_pool2d(content, (gh * cell, gw * cell))
        )
        small_flat = small[0].flatten(1).double()
        mapped = (global_t[0] @ small_flat + global_s[0]).float().view(small.shape)
        logits = self.content_logits(small.float(), mapped, style)
        weights = self.to_full(logits, content).flatten(1)
        stats = weighted_stats(sample, subsample(weights, height, width, stride))
        gains, offsets = self.region_maps(stats, style.regions, (global_t, global_s))
        low, high = (style.regions.low, style.regions.high) if self.config.auto_range_bound else (None, None)
        look = RegionLook(weights, gains, offsets, global_t[0], global_s[0], low, high)
        return self.with_tone_targets(look, stats, style.regions)

    def with_tone_targets(
        self, look: RegionLook, content: RegionStats, style: RegionStats, masked: bool = False
    ) -> RegionLook:
        """look with its regions' tone targets (the style counterparts' luma quantiles), trusted as
        far as the regions' affine maps trust their own statistics."""
        c = self.config
        share = c.mask_tone_share if masked and c.mask_tone_share is not None else c.tone_share
        if share <= 0.0 or style.luma_quantiles is None:
            return look
        look.tone_targets = style.luma_quantiles
        look.tone_trust = self.region_trust(content, style) * share
        if self.config.tone_from_style:
            # The region's luma once its affine map has given it the style region's mean and spread,
            # taken as Gaussian: the curve then depends on the style alone, not on each frame's pixels.
            luma = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64)
            mean = torch.einsum("i,kio->k", luma, style.mean)
            spread = luma_variance(style.cov).clamp_min(0.0).sqrt()
            normal = torch.distributions.Normal(0.0, 1.0).icdf(TONE_QUANTILES.double())
            look.tone_sources = mean[:, None] + spread[:, None] * normal[None]
        return look

    def label_maps(self, content, sample, style: RegionStyle, labels, global_map):
        """Memberships (one per content label, edges kept) and maps when label masks are given;
        sample: the content's pixels every stats_stride-th row and column, 3xM."""
        if style.label_regions is None:
            raise InvalidInputError("content labels were given but the style was encoded without labels")
        label_map = _as_label_tensor(labels, *content.shape[-2:])
        present = [int(label) for label in torch.nonzero(torch.bincount(label_map.flatten(), minlength=256))]
        common = [label for label in present if label in style.labels]
        if not common:
            raise InvalidInputError(
                f"the content mask (labels {present}) and the style mask (labels {style.labels})"
                " have no label in common"
            )
        one_hot = torch.stack([(label_map == label).double() for label in present])
        stride = self.config.stats_stride
        stats = weighted_stats(sample, one_hot[:, ::stride, ::stride].flatten(1))
        index = torch.tensor([style.labels.index(label) if label in style.labels else 0 for label in present])
        style_stats = style.label_regions.pick(index)
        gains, offsets = self.region_maps(stats, style_stats, global_map)
        global_t, global_s = global_map
        low, high = style_stats.low.clone(), style_stats.high.clone()
        missing = torch.tensor([label not in style.labels for label in present])
        for i in torch.nonzero(missing).flatten():  # no counterpart in the style: the whole-image transfer
            gains[i], offsets[i] = global_t[0], global_s[0]
            low[i], high[i] = 0.0, 1.0
        soft = one_hot.float()[None]
        weights = self.follow_edges(soft, content, self.config.mask_edge_radius_fraction)[0].flatten(1)
        look = RegionLook(weights, gains, offsets, global_t[0], global_s[0], low, high)
        look = self.with_tone_targets(look, stats, style_stats, masked=True)
        if look.tone_trust is not None:
            look.tone_trust = torch.where(missing, torch.zeros_like(look.tone_trust), look.tone_trust)
        return look

    def render_parts(
        self, content: torch.Tensor, style: RegionStyle, labels=None, strength: float = 1.0
    ) -> tuple[torch.Tensor, float]:
        outputs = []
        for i in range(content.shape[0]):
            frame = content[i : i + 1]
            item_labels = labels if labels is None or content.shape[0] == 1 else labels[i]
            look = self.region_transforms(frame, style, item_labels)
            pixels = frame[0].flatten(1).float()
            gains, offsets = _towards(look.gains, look.offsets, strength)
            # Each region's map applied to every pixel, then blended by the memberships.
            mapped = torch.matmul(gains.float(), pixels) + offsets.float()  # Kx3xN
            if look.low is not None:
                # Never past the style region's own range further than the whole-image transfer goes.
                global_gain, global_offset = _towards(look.global_gain, look.global_offset, strength)
                whole = (global_gain.float() @ pixels + global_offset.float())[None]
                low = torch.minimum(_towards_range(look.low, strength).float(), whole)
                high = torch.maximum(_towards_range(look.high, strength, 1.0).float(), whole)
                mapped = torch.maximum(torch.minimum(mapped, high), low)
            blended = (look.weights.float()[:, None, :] * mapped).sum(dim=0)
            if look.tone_targets is not None:
                blended = self.shape_tones(blended, look, frame.shape[-2:], strength)
            blended = self.correct_look(blended, frame, style, strength, masked=item_labels is not None)
            outputs.append(into_gamut(blended).view(frame.shape[1:]))
        return torch.stack(outputs).clamp(0.0, 1.0).to(content.dtype), self.config.detail_share

    def shape_tones(self, blended: torch.Tensor, look: RegionLook, size, strength: float) -> torch.Tensor:
        """3xN blended output -> the same with each region's luma distribution moved onto its style
        counterpart's by a slope-bounded monotone curve, blended by membership, added along grey."""
        c = self.config
        luma_weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32)
        luma = (luma_weights @ blended).clamp(0.0, 1.0)  # N
        if look.tone_sources is not None:
            sources = look.tone_sources
        else:
            stride = c.stats_stride
            sample = subsample(luma[None], *size, stride)[0]
            # Each pixel counts for its main region only, as the style's pixels did for theirs: soft
            # memberships would give every region the whole of a gradient its counterpart only has a band of.
            member = subsample(look.weights.float(), *size, stride)
            member = F.one_hot(member.argmax(dim=0), len(member)).T.float()
            sources = weighted_quantiles(sample, member, TONE_QUANTILES)  # KxQ
        curves = tone_curves(sources.double(), look.tone_targets.double(), c.tone_min_slope, c.tone_max_slope)
        shift = (curves - torch.linspace(0.0, 1.0, TONE_LUT, dtype=torch.float64)) * look.tone_trust.view(-1, 1)
        # Each pixel's shift read off its regions' curves (linear between LUT entries), blended by membership.
        position = luma * (TONE_LUT - 1)
        below = position.floor().long().clamp(0, TONE_LUT - 2)
        frac = position - below
        shift = shift.float()
        per_region = shift[:, below] * (1 - frac) + shift[:, below + 1] * frac  # KxN
        delta = (look.weights.float() * per_region).sum(dim=0) * strength
        return blended + delta[None]

    def correct_look(
        self, blended: torch.Tensor, frame: torch.Tensor, style: RegionStyle, strength: float, masked: bool = False
    ) -> torch.Tensor:
        """3xN blended output -> moved look_correction x strength of the way along the whole-image
        Monge-Kantorovich map from its own colour statistics onto the style's."""
        c = self.config
        share = c.look_correction if not masked or c.mask_look_correction is None else c.mask_look_correction
        share *= strength
        if share <= 0.0:
            return blended
        height, width = frame.shape[-2:]
        sample = subsample(blended, height, width, self.config.stats_stride).double().clamp(0.0, 1.0)
        gain, offset = mkl_transform(sample[None], style.mean, style.cov)
        gain, offset = _towards(gain[0], offset[0], share)
        return gain.float() @ blended + offset.float()

    def forward(self, content: torch.Tensor, style: RegionStyle, labels=None, strength: float = 1.0) -> torch.Tensor:
        out, share = self.render_parts(content, style, labels, strength)
        if share <= 0.0 and self.config.fine_grey_share <= 0.0:
            return out
        images = [self.finish(_to_uint8(content[i]), _to_uint8(out[i]), share) for i in range(content.shape[0])]
        return torch.stack([torch.from_numpy(image).permute(2, 0, 1).float() / 255.0 for image in images]).to(content)

    def finish(self, content_rgb: np.ndarray, smoothed_rgb: np.ndarray, detail_share: float) -> np.ndarray:
        """Give back the content's fine luminance detail the mapping took (output resolution): a share
        of the guided filter's residual, then the finest grey detail (services/stylizer/detail.py)."""
        c = self.config
        return with_grey_detail(
            content_rgb,
            smoothed_rgb,
            detail_share,
            c.detail_radius_fraction,
            c.detail_eps,
            c.fine_grey_share,
            c.fine_grey_sigma,
        )


def _towards(gain: torch.Tensor, offset: torch.Tensor, strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Displacement interpolation of affine maps (...x3x3, ...x3x1): x -> x + s (T x + t - x)."""
    if strength == 1.0:
        return gain, offset
    eye = torch.eye(3, dtype=gain.dtype)
    return eye + strength * (gain - eye), strength * offset


def _towards_range(bound: torch.Tensor, strength: float, identity: float = 0.0) -> torch.Tensor:
    """A range bound loosened towards the open range (identity: 0 for lows, 1 for highs) as strength drops."""
    return bound if strength == 1.0 else identity + strength * (bound - identity)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return image.clamp(0, 1).mul(255).add(0.5).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def _sqrtm(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(1e-12)
    sqrt = vectors @ torch.diag_embed(values.sqrt()) @ vectors.transpose(-1, -2)
    inv = vectors @ torch.diag_embed(values.rsqrt()) @ vectors.transpose(-1, -2)
    return sqrt, inv


def gaussian_ot(
    mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monge-Kantorovich map between Gaussians, batched: (Kx3x3 T, Kx3x1 shift), y = T x + shift."""
    a_sqrt, a_inv = _sqrtm(cov_a)
    middle, _ = _sqrtm(a_sqrt @ cov_b @ a_sqrt)
    transform = a_inv @ middle @ a_inv
    return transform, mean_b - transform @ mean_a


def limit_gain(transform: torch.Tensor, max_gain: float, min_gain: float | None = None) -> torch.Tensor:
    """Clamp the singular values of Kx3x3 maps to [min_gain (default 1 / max_gain), max_gain]."""
    u, s, vh = torch.linalg.svd(transform)
    return u @ torch.diag_embed(s.clamp(1.0 / max_gain if min_gain is None else min_gain, max_gain)) @ vh


def floor_luma_gain(transform: torch.Tensor, cov: torch.Tensor, min_gain: float) -> torch.Tensor:
    """Kx3x3 maps, Kx3x3 content covariances -> maps whose luminance gain on their region's colours
    (the slope of output luma on content luma, least squares) is at least min_gain.

    A region whose style counterpart is smooth (a clear sky) would otherwise flatten everything in
    it, a lit window included, to its new mean. What is missing is added along grey, in proportion
    to the pixel's luma offset from its region's mean: hue and the region's mean are left alone."""
    if min_gain <= 0.0:
        return transform
    luma = torch.tensor(LUMA_WEIGHTS, dtype=transform.dtype)
    spread = luma_variance(cov)
    gain = torch.einsum("i,kij,kjl,l->k", luma, transform, cov, luma) / spread.clamp_min(1e-12)
    missing = (min_gain - gain).clamp_min(0.0)
    return transform + missing.view(-1, 1, 1) * torch.ones(3, 1, dtype=transform.dtype) @ luma[None]


def into_gamut(pixels: torch.Tensor) -> torch.Tensor:
    """3xN RGB -> the same, each colour past [0, 1] drawn towards the grey of its own luma until it
    fits (luma kept, as far as it lies in [0, 1]): a highlight pushed past white turns whiter,
    instead of losing the brightness of its clipped channels (an orange-lit window, say)."""
    luma = torch.tensor(LUMA_WEIGHTS, dtype=pixels.dtype).view(1, 3) @ pixels  # 1xN
    grey = luma.clamp(0.0, 1.0)
    chroma = pixels - grey
    high, low = chroma.max(dim=0, keepdim=True).values, chroma.min(dim=0, keepdim=True).values
    room_high = torch.where(high > 1.0 - grey, (1.0 - grey) / high.clamp_min(1e-6), torch.ones_like(high))
    room_low = torch.where(low < -grey, grey / (-low).clamp_min(1e-6), torch.ones_like(low))
    return grey + torch.minimum(room_high, room_low).clamp(0.0, 1.0) * chroma


@register_model(
    "regions",
    description=(
        "region-aware colour transfer: sky to sky, ground to ground (automatic soft regions or label masks),"
        " per-region optimal-transport maps blended edge-aware; closed form"
    ),
)
def build_regions(*, weights: str | None = None) -> StyleModel:
    return RegionTransfer()
