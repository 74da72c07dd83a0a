"""Writes tests/reference/prune.json: masks from torch.nn.utils.prune (l1_unstructured,
global_unstructured, ln_structured with n = 1, 2 and dims 0, 1) and a few SGD-with-momentum steps on
a pruned linear layer, for tests/native/prune.rs. Inputs are continuous random draws (no ties).

    python3 tests/reference/generate_prune.py   # needs torch (CPU); CI only reads the JSON
"""

import json
import os

import torch
import torch.nn.functional as F
import torch.nn.utils.prune as prune

torch.manual_seed(0)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def holder(w):
    """A module with one parameter called `weight`, so torch's prune functions can act on it."""
    m = torch.nn.Module()
    m.weight = torch.nn.Parameter(w.clone())
    return m


def amount_json(a):
    return a  # ints stay ints (counts), floats stay floats (fractions)


cases = {"l1_unstructured": [], "global_unstructured": [], "ln_structured": [], "sgd": []}

# l1_unstructured, once and twice in a row (the second acts on the survivors, as a PruningContainer).
for shape, amounts in [([6, 10], [0.3]), ([6, 10], [17]), ([5, 8], [0.5, 0.5]), ([4, 3, 3, 3], [0.25, 20])]:
    w = torch.randn(*shape)
    m = holder(w)
    masks = []
    for a in amounts:
        prune.l1_unstructured(m, "weight", amount=a)
        masks.append(flat(m.weight_mask))
    cases["l1_unstructured"].append(
        {"shape": shape, "weight": flat(w), "amounts": [amount_json(a) for a in amounts], "masks": masks}
    )

# global_unstructured over a linear, another linear and a conv weight; twice in a row.
shapes = [[8, 5], [6, 8], [4, 3, 3, 3]]
ws = [torch.randn(*s) for s in shapes]
mods = [holder(w) for w in ws]
rounds = []
for a in [0.4, 0.5]:
    prune.global_unstructured([(m, "weight") for m in mods], pruning_method=prune.L1Unstructured, amount=a)
    rounds.append({"amount": a, "masks": [flat(m.weight_mask) for m in mods]})
cases["global_unstructured"].append({"shapes": shapes, "weights": [flat(w) for w in ws], "rounds": rounds})

# ln_structured: n = 1, 2; dim = 0, 1; linear and conv weights; fractions (one rounds half to even)
# and counts; one case applied twice.
for shape in [[7, 9], [5, 4], [6, 4, 3, 3]]:
    w = torch.randn(*shape)
    for n in [1, 2]:
        for dim in [0, 1]:
            for amounts in [[0.5], [2], [0.3, 0.5]]:
                m = holder(w)
                masks = []
                for a in amounts:
                    prune.ln_structured(m, "weight", amount=a, n=n, dim=dim)
                    masks.append(flat(m.weight_mask))
                cases["ln_structured"].append(
                    {"shape": shape, "weight": flat(w), "n": n, "dim": dim, "amounts": amounts, "masks": masks}
                )

# SGD with momentum (and weight decay) on a linear layer pruned with l1_unstructured: the effective
# weight after each step. Cross-entropy on fixed inputs.
lin = torch.nn.Linear(6, 4)
w0, b0 = lin.weight.detach().clone(), lin.bias.detach().clone()
prune.l1_unstructured(lin, "weight", amount=0.5)
mask = flat(lin.weight_mask)
x = torch.randn(8, 6)
y = torch.randint(0, 4, (8,))
opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
steps = []
for _ in range(5):
    opt.zero_grad()
    loss = F.cross_entropy(lin(x), y)
    loss.backward()
    opt.step()
    # `lin.weight` is recomputed by the forward pre-hook only at the next forward: read orig ⊙ mask.
    effective = lin.weight_orig * lin.weight_mask
    steps.append({"loss": loss.item(), "weight": flat(effective), "bias": flat(lin.bias)})
cases["sgd"].append(
    {
        "weight": flat(w0),
        "bias": flat(b0),
        "mask": mask,
        "x": flat(x),
        "y": [int(v) for v in y],
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 0.01,
        "steps": steps,
    }
)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prune.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, **cases}, f)
print(f"wrote {out}")
