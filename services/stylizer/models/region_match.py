"""Matching a content's regions to a style's by unbalanced optimal transport between region descriptors.

Matching each content cell to its nearest style prototype goes wrong when the two photos divide
their area differently: where the style's sky is a thin strip and the content's fills half the
frame, the lower half of the content's sky lies, by position, nearer to the style's ground than to
its sky. Here the content is first cut into regions of its own (k-means on the coarse grid, seeded
with the style's prototypes so that every key frame starts from the same place and no region can
swap), each region is described as a whole (position, lightness, colour, texture, smoothness, share)
and the regions are matched to the style's by entropic optimal transport whose marginals are only
held by a Kullback-Leibler penalty (Chizat et al. 2018): a content region may take much more, or
much less, of the frame than its counterpart, and a style region dominating the style attracts no
region of another kind. Each content region's look is the transport-weighted mix of the style
regions it is matched to.
"""

from __future__ import annotations

import torch

# Local luminance std at which a cell counts half smooth: a clear sky lies far below, grass far above.
SMOOTH_TEXTURE = 0.02
TEXTURE_COLUMN = 4  # raw features: L / 100, a / 100, b / 100, row, texture


def smoothness(texture: torch.Tensor) -> torch.Tensor:
    """Local luminance std -> 1 (flat) .. 0 (textured): SMOOTH_TEXTURE^2 / (texture^2 + SMOOTH_TEXTURE^2)."""
    return SMOOTH_TEXTURE**2 / (texture.square() + SMOOTH_TEXTURE**2)


def describe(features: torch.Tensor, memberships: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nx5 raw cell features, NxK soft memberships -> Kx6 region descriptors (the features' means and
    the share of smooth cells) and K area shares, each cell counted in its likeliest region only (soft
    memberships would lend a smooth sky some of the texture of the ground beside it)."""
    cells = torch.cat([features, smoothness(features[:, TEXTURE_COLUMN : TEXTURE_COLUMN + 1])], dim=1).double()
    soft = memberships.double()
    hard = torch.nn.functional.one_hot(soft.argmax(dim=1), soft.shape[1]).double()
    mass = hard.sum(dim=0)
    # A region that is nobody's likeliest (its cells' share 0) is described by its soft members.
    weights = torch.where(mass[None, :] > 0, hard, soft)
    descriptors = (weights.T @ cells) / weights.sum(dim=0).clamp_min(1e-9)[:, None]
    return descriptors, mass / features.shape[0]


def lloyd(features: torch.Tensor, centres: torch.Tensor, iterations: int) -> torch.Tensor:
    """KxF centres after `iterations` k-means (Lloyd) steps over NxF features, from `centres`; a
    centre that loses every cell stays where it was."""
    for _ in range(iterations):
        nearest = torch.cdist(features, centres).argmin(dim=1)
        counts = torch.bincount(nearest, minlength=len(centres)).float()
        sums = torch.zeros_like(centres).index_add_(0, nearest, features)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
    return centres


def seeded_kmeans(features: torch.Tensor, seeds: torch.Tensor, weights: torch.Tensor, iterations: int) -> torch.Tensor:
    """NxF raw features, KxF seeds (raw) -> KxF centres (raw) of k-means on the weighted features,
    started from the seeds; a centre that loses every cell stays where it was."""
    centres = lloyd(features * weights, seeds.float() * weights, iterations)
    return centres / weights.clamp_min(1e-6)


def unbalanced_sinkhorn(
    cost: torch.Tensor, source: torch.Tensor, target: torch.Tensor, epsilon: float, marginal: float, iterations: int
) -> torch.Tensor:
    """Entropic unbalanced optimal transport, in the log domain: log of the plan P (KxL) minimising
    <P, cost> + epsilon H(P) + marginal (KL(P 1 | source) + KL(P^T 1 | target)).

    marginal -> 0 lets each row go to its cheapest columns whatever their mass (a softmax of
    -cost / epsilon per row); marginal -> infinity is balanced transport."""
    cost, source, target = cost.double(), source.double().clamp_min(1e-12), target.double().clamp_min(1e-12)
    exponent = marginal / (marginal + epsilon)
    kernel = -cost / epsilon
    f = torch.zeros_like(source)
    g = torch.zeros_like(target)
    for _ in range(iterations):
        f = exponent * (source.log() - torch.logsumexp(kernel + g[None, :], dim=1))
        g = exponent * (target.log() - torch.logsumexp(kernel + f[:, None], dim=0))
    return kernel + f[:, None] + g[None, :]


def transport_memberships(
    cells: torch.Tensor,
    member: torch.Tensor,
    style_descriptors: torch.Tensor,
    style_shares: torch.Tensor,
    weights: torch.Tensor,
    epsilon: float,
    marginal: float,
    iterations: int = 100,
) -> torch.Tensor:
    """Nx5 content cell features and their NxK memberships in the content's own regions, the style's
    Lx6 region descriptors and L shares, 6 descriptor weights -> NxL memberships in the style's regions:
    each content region's row of the transport plan, normalised, spread over its cells."""
    descriptors, shares = describe(cells, member)
    cost = torch.cdist(descriptors * weights.double(), style_descriptors.double() * weights.double()).square()
    log_plan = unbalanced_sinkhorn(cost, shares, style_shares, epsilon, marginal, iterations)
    return member.double() @ torch.softmax(log_plan, dim=1)
