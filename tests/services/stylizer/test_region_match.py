"""Unbalanced optimal transport between region descriptors: its limits and the descriptors."""

import torch

from services.stylizer.models.region_match import describe, seeded_kmeans, unbalanced_sinkhorn

COST = torch.tensor([[0.0, 0.2, 0.5], [0.3, 0.0, 0.1]], dtype=torch.float64)
SOURCE = torch.tensor([0.7, 0.3], dtype=torch.float64)
TARGET = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)


def test_a_loose_marginal_lets_each_region_take_its_cheapest_match_whatever_the_areas():
    plan = unbalanced_sinkhorn(COST, SOURCE, TARGET, epsilon=0.05, marginal=1e-6, iterations=200).exp()
    rows = plan / plan.sum(dim=1, keepdim=True)
    torch.testing.assert_close(rows, torch.softmax(-COST / 0.05, dim=1), atol=1e-4, rtol=0)
    # The first region, 70% of the content, still goes mostly to the style's 10% region.
    assert rows[0, 0] > 0.9


def test_a_tight_marginal_approaches_balanced_transport():
    plan = unbalanced_sinkhorn(COST, SOURCE, TARGET, epsilon=0.05, marginal=1e4, iterations=2000).exp()
    torch.testing.assert_close(plan.sum(dim=1), SOURCE, atol=2e-3, rtol=0)
    torch.testing.assert_close(plan.sum(dim=0), TARGET, atol=2e-3, rtol=0)


def test_descriptors_count_each_cell_in_its_likeliest_region_and_seeded_centres_keep_their_order():
    # Two kinds of cell: smooth and bright at the top, textured and dark at the bottom (L, a, b, row, texture).
    top = torch.tensor([[0.9, 0.0, -0.2, 0.1, 0.002]]).repeat(30, 1)
    bottom = torch.tensor([[0.4, 0.1, 0.3, 0.7, 0.1]]).repeat(70, 1)
    cells = torch.cat([top, bottom])
    soft = torch.cat([torch.tensor([[0.8, 0.2]]).repeat(30, 1), torch.tensor([[0.3, 0.7]]).repeat(70, 1)])
    descriptors, shares = describe(cells, soft)
    torch.testing.assert_close(shares, torch.tensor([0.3, 0.7], dtype=torch.float64))
    assert descriptors[0, 5] > 0.95 and descriptors[1, 5] < 0.05  # smooth share
    torch.testing.assert_close(descriptors[:, :5].float(), torch.stack([top[0], bottom[0]]))
    # Seeds given bottom first: the centres keep that order (no swap), each on its own kind.
    seeds = torch.stack([bottom[0] + 0.05, top[0] - 0.05])
    centres = seeded_kmeans(cells, seeds, torch.ones(5), iterations=5)
    torch.testing.assert_close(centres, torch.stack([bottom[0], top[0]]))
