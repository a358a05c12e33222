"""The optimisation loop both trainings share: Adam with a one-cycle schedule, a smoothed loss log."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn


def optimise(
    module: nn.Module,
    loss_at: Callable[[int], torch.Tensor],
    *,
    steps: int,
    learning_rate: float,
    name: str,
    log: Callable[[str], None],
    log_every: int,
) -> None:
    """Minimise loss_at(step) for step = 1..steps; leaves the module in eval mode."""
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps)
    started = time.perf_counter()
    running = 0.0
    module.train()
    for step in range(1, steps + 1):
        loss = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        value = loss.item()
        running = 0.98 * running + 0.02 * value if step > 1 else value
        if step % log_every == 0 or step == steps:
            log(f"{name} step {step}/{steps} loss {running:.4f} ({time.perf_counter() - started:.0f} s)")
    module.eval()
