"""Writes tests/fixtures/listwise_rank.txt: DRUM's rank term (UDR-style list-wise loss,
docs in include/drum/ops.h) and its gradient, computed by PyTorch autograd in float64.

    /work/venv/bin/python tools/gen_listwise_fixture.py

The rows cover: padding (fb = -inf), exact ties in sim (positions fall back to the index),
ties in fb (such pairs are skipped), an all-padding row, a single present candidate, a row
with all feedback tied, and large sim gaps (softplus far from zero). Inputs are float32
values so the C test reads exactly the numbers PyTorch used.
"""
import math
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "listwise_rank.txt")
Q, L = 6, 8
NEG_INF = -math.inf


def inputs():
    g = torch.Generator().manual_seed(20241207)
    sim = (torch.rand(Q, L, generator=g) * 6 - 3).float()
    fb = (torch.randint(0, 5, (Q, L), generator=g).float() * 0.5 - 1.0)
    fb[0, [2, 5]] = NEG_INF
    sim[1, [1, 4, 6]] = 0.75  # three-way tie in sim
    sim[1, 2] = sim[1, 7]     # and a pair
    fb[1] = torch.arange(L).float() * -0.25
    fb[2] = NEG_INF
    fb[3] = NEG_INF
    fb[3, 5] = 0.5
    fb[4] = 0.25
    sim[5] = (torch.rand(L, generator=g) * 60 - 30).float()
    fb[5, 0] = NEG_INF
    dloss = (torch.rand(Q, generator=g) * 2 - 1).float()
    return sim, fb, dloss


def rank_loss(sim, fb):
    """loss[q] = mean over pairs fb_i > fb_j of |1/pi(i) - 1/pi(j)| softplus(sim_j - sim_i)."""
    out = []
    for q in range(sim.shape[0]):
        idx = (fb[q] != NEG_INF).nonzero().squeeze(1)
        s, f = sim[q, idx], fb[q, idx]
        # stable descending sort: equal sims keep index order, so ties go to the lower index
        order = torch.sort(s.detach(), descending=True, stable=True).indices
        pos = torch.empty(len(idx), dtype=torch.float64)
        pos[order] = torch.arange(1, len(idx) + 1, dtype=torch.float64)
        w = (1 / pos[:, None] - 1 / pos[None, :]).abs()
        mask = f[:, None] > f[None, :]
        term = w * torch.nn.functional.softplus(-(s[:, None] - s[None, :]))
        out.append(term[mask].sum() / mask.sum() if mask.any() else s.sum() * 0)
    return torch.stack(out)


def fmt(t):
    return " ".join("-inf" if math.isinf(x) and x < 0 else repr(float(x)) for x in t.flatten().tolist())


def main():
    sim32, fb32, dloss32 = inputs()
    sim = sim32.double().requires_grad_(True)
    loss = rank_loss(sim, fb32.double())
    (loss * dloss32.double()).sum().backward()
    lines = [
        "# DRUM rank term, float64 PyTorch autograd; regenerate with:",
        "#   /work/venv/bin/python tools/gen_listwise_fixture.py",
        "# Q L, then sim (Q*L), fb (Q*L, -inf = padding), dloss (Q), loss (Q), dsim (Q*L)",
        f"{Q} {L}",
        fmt(sim32),
        fmt(fb32),
        fmt(dloss32),
        fmt(loss.detach()),
        fmt(sim.grad),
    ]
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
