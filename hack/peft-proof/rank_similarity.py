#!/usr/bin/env python3
"""Proof of the trainer's rank analysis (issue 14) against numpy.

The LoRA paper's normalized subspace similarity (Hu et al. 2021, section 7.2),
    phi(A1, A2, i, j) = ||U1_i^T U2_j||_F^2 / min(i, j),
with U_i the top-i right-singular vectors of A (numpy.linalg.svd), averaged over the layers of
each module type, is computed here and by `lora-trainer.jar rank-similarity` (the code the publish
Job's rank analysis runs) on PEFT-layout adapters with known subspaces:
  - identical: an adapter against a copy whose rows are mixed by a rotation (same row space): 1;
  - orthogonal: rows on e0..e3 against rows on e4..e11: 0;
  - nested: rank 4 on e1..e4 against rank 8 on e0..e7 (descending weights): min(i, j - 1) / min(i, j);
  - random: Gaussian rank 4 against rank 16, three layers, q_proj and v_proj: numpy's values.
Each case checks the Java matrix against numpy's (max abs difference; the Java side rounds to 4
decimals) and numpy's against the known value where there is one. Prints a table; exits 1 on any
failure.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from common import java, print_table

D = 64
TOLERANCE = 1e-4  # the Java output is rounded to 4 decimals


def axes(first, rank, rng):
    """Rows weight_k * e_(first + k) (descending weights), mixed by a random rotation on the left:
    the row space (and its singular directions) stays e_first.., the rows themselves do not."""
    a = np.zeros((rank, D))
    for k in range(rank):
        a[k, first + k] = rank - k + 0.5
    q, _ = np.linalg.qr(rng.standard_normal((rank, rank)))
    return q @ a


def write_adapter(path, matrices):
    """matrices: {(layer, module): A [r, D]} -> adapter_model.safetensors + adapter_config.json."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for (layer, module), a in matrices.items():
        key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
        tensors[f"{key}.lora_A.weight"] = a.astype(np.float32)
        tensors[f"{key}.lora_B.weight"] = np.zeros((D, a.shape[0]), dtype=np.float32)
    save_file(tensors, str(path / "adapter_model.safetensors"), metadata={"format": "pt"})
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": a.shape[0]}))


def numpy_phi(a1, a2):
    """phi[i - 1][j - 1] from numpy's SVD (rows of Vh are the right-singular vectors)."""
    v1 = np.linalg.svd(a1.astype(np.float32).astype(np.float64), full_matrices=False)[2]
    v2 = np.linalg.svd(a2.astype(np.float32).astype(np.float64), full_matrices=False)[2]
    out = np.zeros((v1.shape[0], v2.shape[0]))
    for i in range(1, v1.shape[0] + 1):
        for j in range(1, v2.shape[0] + 1):
            out[i - 1, j - 1] = np.linalg.norm(v1[:i] @ v2[:j].T) ** 2 / min(i, j)
    return out


def cases(rng):
    same = axes(0, 8, rng)
    nested = {(i, j): min(i, j - 1) / min(i, j) for i in range(1, 5) for j in range(1, 9)}
    return {
        "identical": ({(0, "q_proj"): same}, {(0, "q_proj"): np.linalg.qr(rng.standard_normal((8, 8)))[0] @ same},
                      lambda i, j: 1.0),
        "orthogonal": ({(0, "q_proj"): axes(0, 4, rng)}, {(0, "q_proj"): axes(4, 8, rng)}, lambda i, j: 0.0),
        "nested": ({(0, "q_proj"): axes(1, 4, rng)}, {(0, "q_proj"): axes(0, 8, rng)},
                   lambda i, j: nested[(i, j)]),
        "random": ({(l, m): rng.standard_normal((4, D)) for l in range(3) for m in ("q_proj", "v_proj")},
                   {(l, m): rng.standard_normal((16, D)) for l in range(3) for m in ("q_proj", "v_proj")},
                   None),
    }


def check(name, first, second, known, jar, work):
    a, b = work / name / "a", work / name / "b"
    write_adapter(a, first)
    write_adapter(b, second)
    got = json.loads(java(["rank-similarity", a, b], jar))
    results = {}
    modules = sorted({m for _, m in first})
    results["modules"] = (sorted(got) == modules, ",".join(sorted(got)))
    worst_numpy = worst_known = 0.0
    for module in modules:
        layers = sorted(l for l, m in first if m == module)
        reference = np.mean([numpy_phi(first[(l, module)], second[(l, module)]) for l in layers], axis=0)
        java_phi = np.array(got.get(module, {}).get("phi", [[np.nan]]))
        if java_phi.shape != reference.shape or got[module]["layers"] != len(layers):
            worst_numpy = np.inf
            continue
        worst_numpy = max(worst_numpy, float(np.max(np.abs(java_phi - reference))))
        if known is not None:
            expected = np.array([[known(i, j) for j in range(1, reference.shape[1] + 1)]
                                 for i in range(1, reference.shape[0] + 1)])
            worst_known = max(worst_known, float(np.max(np.abs(reference - expected))))
    results["java = numpy"] = (worst_numpy <= TOLERANCE, f"{worst_numpy:.1e}")
    if known is not None:
        results["numpy = known"] = (worst_known <= 1e-9, f"{worst_known:.1e}")
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    work = Path(args.work)
    rng = np.random.default_rng(14)
    results = {}
    for name, (first, second, known) in cases(rng).items():
        results[name] = check(name, first, second, known, args.jar, work)
    failed = print_table("rank similarity", "rank-similarity", ["modules", "java = numpy", "numpy = known"], results)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
