#!/usr/bin/env python3
"""The side-by-side table of bench/gpu/run.sh: tokens/s, MFU and peak memory, Java trainer vs PEFT.

    report.py <model dir> <batch> <seq> <rank> <targets> <device name> <java.json> <peft.json>

Each JSON file holds the last line a side printed ({"error": ...} if it failed). MFU is model
FLOPs per token (below) x tokens/s / the device's peak dense half-precision FLOP/s (bf16, or fp16 on
GPUs without bf16; the same on those that have both) (PEAK_TFLOPS overrides the
table; on a CPU there is no entry and MFU is left out unless PEAK_TFLOPS is set).

FLOPs per token of a LoRA training step on a LLaMA-family model (frozen base, adapters trained),
counted as model FLOPs (work the model needs, not what a kernel happens to recompute), a
multiply-add = 2 FLOPs, T = sequence length, L layers, A = heads x head_dim:

    4 N  +  12 L T A  +  6 N_lora

- N: the weights of every matmul: per layer q, k, v, o, gate, up, down, plus the LM head (V x d,
  counted once also when tied to the embedding); the embedding lookup is no matmul and is not in N.
  Forward 2N; backward 2N for the gradients of the activations (dX = dY W). A frozen weight gets no
  gradient, so the 2N of weight gradients that full training adds (6N in all) is not done and not
  counted. Block 0's q/k/v input gradient (not needed: the embedding is frozen) is counted all the
  same (0.25% of 4N on llama-1b).
- Attention: QK^T and PV, 2 T A FLOPs each per token and layer forward, twice that backward (dQ, dK
  from dS; dP, dV): 12 L T A, counted over the full T x T square as PaLM's MFU does (12 L H Q T),
  although a causal kernel computes about half of it, and the flash kernels' recomputation of QK^T in
  backward is not counted.
- LoRA: per adapted layer (d_in -> d_out) and token, x A and (x A) B cost 2 r (d_in + d_out) forward,
  as much backward for their input gradients and as much for the gradients of A and B: 6 r (d_in +
  d_out) = 6 N_lora.

The usual "6N" (full fine-tuning or pre-training, Kaplan et al. / PaLM) counts 6 N + 12 L T A; for a
LoRA step it overstates the work by 2 N. The table's "MFU@6N" column gives that figure too, for
comparison with numbers published that way; both sides are scored with the same FLOPs per token.
"""
import json
import math
import os
import re
import sys

# Peak dense (no sparsity) bf16 tensor-core FLOP/s, in TFLOP/s, from NVIDIA's datasheets (fp16's
# is the same on these; T4 and V100 have no bf16, their fp16 peak is given); the first pattern that
# matches torch.cuda.get_device_name() wins (so H200 NVL before H200).
PEAK_HALF_TFLOPS = [
    (r"GH200", 989.0),
    (r"H200 NVL", 835.0),
    (r"H200", 989.0),
    (r"H100 NVL", 835.0),
    (r"H100 PCIe", 756.0),
    (r"H100|H800", 989.0),  # SXM5 (nvidia-smi: "NVIDIA H100 80GB HBM3")
    (r"\bH20\b", 148.0),
    (r"GB200", 2500.0),
    (r"B200", 2250.0),
    (r"A100|A800", 312.0),
    (r"L40S", 362.0),
    (r"\bL40\b", 181.0),
    (r"\bL4\b", 121.0),
    (r"\bA10\b", 125.0),
    (r"RTX 4090", 165.0),
    (r"\bT4\b", 65.0),  # fp16 (--precision fp16)
    (r"V100", 125.0),  # fp16, SXM2 (--precision fp16)
]

LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def peak_tflops(device):
    if os.environ.get("PEAK_TFLOPS"):
        return float(os.environ["PEAK_TFLOPS"])
    for pattern, tflops in PEAK_HALF_TFLOPS:
        if re.search(pattern, device):
            return tflops
    return None


def flops_per_token(cfg, seq, rank, targets):
    """(LoRA step FLOPs per token, the 6N convention's) for a LLaMA-family config.json."""
    if cfg.get("model_type") not in ("llama", "qwen3", "mistral", "qwen2"):
        raise SystemExit(f"report: no FLOPs formula for model_type {cfg.get('model_type')}")
    d, layers, inter, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    hd = cfg.get("head_dim") or d // heads
    q, k = heads * hd, kv * hd
    shapes = {  # (d_in, d_out) of each linear of a block
        "q_proj": (d, q), "k_proj": (d, k), "v_proj": (d, k), "o_proj": (q, d),
        "gate_proj": (d, inter), "up_proj": (d, inter), "down_proj": (inter, d),
    }
    n = layers * sum(i * o for i, o in shapes.values()) + vocab * d
    adapted = LINEARS if targets == "all-linear" else targets.split(",")
    unknown = [t for t in adapted if t not in shapes]
    if unknown:
        raise SystemExit(f"report: no shape for target modules {unknown}")
    n_lora = layers * sum(rank * (shapes[t][0] + shapes[t][1]) for t in adapted)
    attention = 12 * layers * seq * q
    return 4 * n + attention + 6 * n_lora, 6 * n + attention, n, n_lora


def matmul_weights(model):
    """N read off model.safetensors' header: every *_proj weight and the LM head (the embedding when
    tied), so the FLOPs formula is checked against the shapes the two sides actually load."""
    with open(os.path.join(model, "model.safetensors"), "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    size = {k: math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    head = size.get("lm_head.weight", size.get("model.embed_tokens.weight", 0))
    return sum(v for k, v in size.items() if k.endswith("_proj.weight")) + head


def main():
    model, batch, seq, rank, targets, device, java_file, peft_file = sys.argv[1:9]
    batch, seq, rank = int(batch), int(seq), int(rank)
    with open(os.path.join(model, "config.json")) as f:
        cfg = json.load(f)
    fpt, fpt6, n, n_lora = flops_per_token(cfg, seq, rank, targets)
    if matmul_weights(model) != n:
        raise SystemExit(f"report: config.json gives N = {n}, model.safetensors {matmul_weights(model)}")
    peak = peak_tflops(device)
    sides = {}
    for name, path in (("java", java_file), ("peft", peft_file)):
        try:
            with open(path) as f:
                sides[name] = json.loads(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError) as e:
            sides[name] = {"error": f"no result ({e})"}
    java = sides["java"]
    if device != "cpu" and "error" not in java and not java.get("device", "").startswith("gpu"):
        # DJL found no GPU (its JNA binding of libcudart): a CPU figure must not pass for a GPU one
        sides["java"] = {"error": f"ran on {java.get('device')}, not on the {device}; see java.log"}
    gpu = any("peak_gpu_mb" in r for r in sides.values())
    mem_key, mem_label = ("peak_gpu_mb", "peak GPU MB") if gpu else ("peak_rss_mb", "peak RSS MB")

    print(f"device: {device}; peak dense half precision: {f'{peak:g} TFLOP/s' if peak else 'unknown (set PEAK_TFLOPS)'}")
    print(f"model: {os.path.basename(os.path.normpath(model))} (N = {n / 1e6:,.1f}M matmul weights, "
          f"{cfg['num_hidden_layers']} layers, d {cfg['hidden_size']}, vocab {cfg['vocab_size']}); "
          f"batch {batch} x {seq} tokens; LoRA r={rank} on {targets} ({n_lora / 1e6:,.2f}M)")
    print(f"FLOPs per token: {fpt / 1e9:,.4f} GFLOP (4N + 12LTA + 6N_lora); 6N convention: {fpt6 / 1e9:,.4f} GFLOP")
    print()
    head = f"{'side':<6} {'tokens/s':>10} {'step s':>8} {'TFLOP/s':>8} {'MFU':>6} {'MFU@6N':>7} {mem_label:>12} {'loss first->last':>18}  engine"
    print(head)
    rate = {}
    for name, r in sides.items():
        if "error" in r:
            print(f"{name:<6} failed: {r['error']}")
            continue
        tps = r["tokens_per_s"]
        rate[name] = tps
        tflops = tps * fpt / 1e12
        mfu = f"{100 * tflops / peak:.1f}%" if peak else "-"
        mfu6 = f"{100 * tps * fpt6 / 1e12 / peak:.1f}%" if peak else "-"
        mem = r.get(mem_key, -1)
        mem_s = f"{mem:.0f}" if mem is not None and mem >= 0 else "-"
        loss = f"{r.get('loss_first', float('nan')):.3f}->{r.get('loss_last', float('nan')):.3f}"
        engine = r.get("torch") or f"DJL libtorch {r.get('engine_version', '?')}"
        print(f"{name:<6} {tps:>10.0f} {r['step_s_median']:>8.3f} {tflops:>8.1f} {mfu:>6} {mfu6:>7} {mem_s:>12} {loss:>18}  {engine} on {r.get('device', '?')}")
    if len(rate) == 2:
        j, p = sides["java"], sides["peft"]
        line = f"java/peft: tokens/s {rate['java'] / rate['peft']:.2f}x"
        if j.get(mem_key, -1) > 0 and p.get(mem_key, -1) > 0:
            line += f", {mem_label} {j[mem_key] / p[mem_key]:.2f}x"
        print(line)
    if gpu and "torch_max_allocated_mb" in sides.get("peft", {}):
        p = sides["peft"]
        print(f"peft torch allocator peaks: allocated {p['torch_max_allocated_mb']:.0f} MB, reserved {p['torch_max_reserved_mb']:.0f} MB"
              " (peak GPU MB: device memory in use after a step, CUDA context and allocator cache included, on both sides)")
    return 0 if len(rate) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
