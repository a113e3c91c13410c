#!/usr/bin/env python3
"""Proof that the Java trainer's LoRA is Hugging Face PEFT's LoRA.

On tiny seeded models that the Java side generates (GPT-2, LLaMA untied, LLaMA tied) and on tiny
models that transformers' own config and model classes build and save (one per supported family or
variant: Llama 3 RoPE scaling, a transformers-5-layout config with YaRN, Mistral's sliding window,
Qwen2's q/k/v biases and sliding layers, Qwen3's q/k norm and head_dim, Phi-3's fused projections, Gemma 3 text),
and two of those saved as real checkpoints ship (bf16 / fp16, sharded with an index, untied / tied head),
checks:
  0. the Java model's logits equal transformers' (max abs diff <= 1e-4, fp32), and the family's
     features matter: the same weights with them switched off give clearly different logits;
  1. an adapter written by the Java trainer loads in PEFT with no missing or unexpected keys and
     gives the same logits as the Java model (max abs diff <= 1e-4, fp32);
  2. the same init (Java's initial adapter), data (Java's batches, replayed) and hyperparameters
     give the same loss for 10 optimizer steps (max relative diff <= 1e-3);
  3. an adapter written by PEFT (random A and B, rsLoRA) loads in Java with the same logits;
  4. `lora-trainer export-merged` of both adapters (1 and 3) writes a sharded folder that
     transformers loads with no missing or unexpected keys, whose logits equal PEFT's
     merge_and_unload() and the unmerged model (max abs diff <= 1e-4, fp32; a half-precision base
     stays half precision: the reference is then PEFT's merge rounded to it).
Also checks that Python `tokenizers` tokenizes the dataset as the Java side did.
Prints a pass/fail table; exits 1 if any check fails.
"""
import argparse
import warnings
import json
import math
import os
import shutil
import sys
from pathlib import Path

from common import java, print_table  # noqa: E402

warnings.filterwarnings("ignore")  # PEFT/transformers notices about tiny local models
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM, get_scheduler  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()  # "Loading checkpoint shards" bars of the sharded cases

LOGITS_TOL = 1e-4
LOSS_REL_TOL = 1e-3
WORDS = "zero one two three four five six seven eight nine ten".split()
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Tiny shapes with the real families' structure: GQA (kv heads < heads), several layers, and a head
# width other than hidden / heads where the family allows one.
TINY = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
            num_hidden_layers=3, max_position_embeddings=512, rms_norm_eps=1e-6)
# name: (model_type, config overrides, transformers-5 layout?, targets,
#        overrides that switch the case's features off, for the "features matter" row)
HF_CASES = {
    "llama3-rope": ("llama", dict(head_dim=12, rope_theta=10000.0, rope_scaling=dict(
        rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=64)), False, ALL, dict(rope_scaling=None)),
    "llama-tf5-yarn": ("llama", dict(head_dim=16, num_key_value_heads=1, num_hidden_layers=2,
                                     attention_bias=True, tie_word_embeddings=True, rope_theta=500000.0,
                                     max_position_embeddings=32,
                                     rope_scaling=dict(rope_type="yarn", factor=4.0,
                                                       original_max_position_embeddings=8)),
                       True, ["q_proj", "v_proj", "o_proj", "down_proj"],
                       dict(rope_scaling=None, rope_theta=10000.0)),
    "mistral": ("mistral", dict(head_dim=16, sliding_window=4), False, ALL, dict(sliding_window=None)),
    "qwen2": ("qwen2", dict(use_sliding_window=True, sliding_window=5, max_window_layers=1,
                            tie_word_embeddings=True, rope_theta=1000000.0,
                            rope_scaling=dict(rope_type="linear", factor=2.0)),
              False, ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"],
              dict(layer_types=["full_attention"] * 3, rope_scaling=None)),
    "qwen3": ("qwen3", dict(head_dim=24, attention_bias=True, use_sliding_window=True, sliding_window=6,
                            max_window_layers=2, rope_theta=1000000.0), False, ALL,
              dict(layer_types=["full_attention"] * 3)),
    "phi3": ("phi3", dict(head_dim=16, sliding_window=5), False, ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
             dict(sliding_window=None)),
    "gemma3": ("gemma3_text", dict(head_dim=16, query_pre_attn_scalar=12, sliding_window=4,
                                   layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                                   rope_theta=1000000.0, rope_local_base_freq=10000.0,
                                   rope_scaling=dict(rope_type="linear", factor=8.0)), False, ALL,
               dict(layer_types=["full_attention"] * 3, rope_scaling=None)),
}
# Checkpoint layouts as real models ship them: a family case's model saved by transformers in half
# precision and in several shards (model.safetensors.index.json), with generation_config.json.
# name: (family case, dtype on disk, max_shard_size). llama3-rope has an untied head, qwen2 a tied one.
LAYOUT_CASES = {
    "llama-bf16-shards": ("llama3-rope", torch.bfloat16, "20KB"),
    "qwen2-fp16-shards": ("qwen2", torch.float16, "20KB"),
}
CASES = [
    ("gpt2", "tiny-gpt2", ["c_attn", "c_proj", "c_fc"]),
    ("llama", "tiny-llama", ALL),
    ("llama-tied", "tiny-llama-tied", ["q_proj", "v_proj"]),
] + [(name, name, c[3]) for name, c in HF_CASES.items()] + [
    (name, family, HF_CASES[family][3]) for name, (family, _, _) in LAYOUT_CASES.items()]
HP = dict(rank=4, alpha=8, lr=1e-2, steps=10, warmup=2, batch=4, accum=2, seq=16, wd=0.01, clip=1.0,
          lora_plus=2.0, seed=42)


def base_model(model_dir, config=None):
    torch.manual_seed(0)
    kw = {} if config is None else {"config": config}
    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager", **kw)
    m.eval()
    return m


def hf_model(name, work, jar, root):
    """Builds case `name` of HF_CASES (or the family case of a LAYOUT_CASES entry) with transformers'
    classes (seed 1) and saves it as transformers does (safetensors; for a layout case in its dtype and
    shards), with the Java tiny tokenizer. Returns (dir the Java side reads, dir PEFT reads): they
    differ only for the transformers-5 layout, which transformers 4.57 cannot read, so the reference
    loads the transformers-4 twin of the same weights."""
    family, dtype, shard = LAYOUT_CASES.get(name, (name, torch.float32, "5GB"))
    model_type, overrides, tf5, _, _ = HF_CASES[family]
    tok = root / "tokenizer"
    if not (tok / "tokenizer.json").exists():
        java(["gen-model", "tiny-llama", tok, 1], jar)
    vocab = json.loads((tok / "config.json").read_text())["vocab_size"]
    cfg = AutoConfig.for_model(model_type, vocab_size=vocab, bos_token_id=2, eos_token_id=2, pad_token_id=1,
                               **{**TINY, **overrides})
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():
        # Larger than HF's 0.02 init (see TinyModels), norm weights away from 1 and biases away from 0,
        # so that logits notice a norm or bias the Java side might ignore.
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif n.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_((0.3 if "embed_tokens" in n or "lm_head" in n else 0.1) * torch.randn_like(p))
    ref = work / "ref-model"
    # Both sides then read the same rounded weights, widened to fp32 (PEFT's base_model loads fp32).
    model.to(dtype).save_pretrained(str(ref), safe_serialization=True, max_shard_size=shard)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tok / f, ref / f)
    if not tf5:
        return ref, ref
    # The transformers 5 layout: RoPE settings in one rope_parameters object (top-level rope_theta and
    # rope_scaling gone), dtype rather than torch_dtype.
    model_dir = work / "model"
    shutil.copytree(ref, model_dir)
    c = json.loads((model_dir / "config.json").read_text())
    rope = {k: v for k, v in (c.pop("rope_scaling") or {"rope_type": "default"}).items() if k != "type"}
    c["rope_parameters"] = {**rope, "rope_theta": c.pop("rope_theta")}
    if "torch_dtype" in c:  # transformers 4.57 already writes dtype
        c["dtype"] = c.pop("torch_dtype")
    c["transformers_version"] = "5.0.0"
    (model_dir / "config.json").write_text(json.dumps(c, indent=2))
    return model_dir, ref


def layout_check(model_dir, name):
    """That layout case `name` was saved as it claims: several shards named by the index, every
    tensor in the case's dtype, lm_head stored only when untied, and a generation_config.json."""
    from safetensors import safe_open
    _, dtype, _ = LAYOUT_CASES[name]
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())["weight_map"]
    shards = sorted(set(index.values()))
    dtypes = set()
    for shard in shards:
        with safe_open(str(model_dir / shard), "pt") as f:
            dtypes |= {f.get_slice(k).get_dtype() for k in f.keys()}
    tied = json.loads((model_dir / "config.json").read_text()).get("tie_word_embeddings", True)
    want = {torch.bfloat16: "BF16", torch.float16: "F16"}[dtype]
    ok = (len(shards) > 1 and dtypes == {want} and ("lm_head.weight" in index) != tied
          and (model_dir / "generation_config.json").is_file())
    return ok, f"{len(shards)} {want}{'/'.join(sorted(dtypes - {want}))} {'tied' if tied else 'untied'}"


def peft_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def write_case_inputs(work, model_dir, targets):
    data = work / "train.jsonl"
    import random
    r = random.Random(0)
    with open(data, "w") as f:
        for _ in range(40):
            s = r.randrange(5)
            f.write(json.dumps({"text": " ".join(WORDS[s:s + 6])}) + "\n")
    cfg = {
        "contractVersion": 1, "job": "proof", "trial": "proof-t0", "trialIndex": 0,
        "baseModel": {"name": "tiny", "path": str(model_dir)},
        "dataset": {"path": str(data), "format": "text", "validationSplit": 0.0},
        "lora": {"rank": HP["rank"], "alpha": HP["alpha"], "dropout": 0.0, "targetModules": targets,
                 "rsLora": False, "loraPlusRatio": HP["lora_plus"]},
        "training": {"learningRate": HP["lr"], "maxSteps": HP["steps"], "batchSize": HP["batch"],
                     "gradientAccumulationSteps": HP["accum"], "sequenceLength": HP["seq"],
                     "warmupSteps": HP["warmup"], "scheduler": "cosine", "weightDecay": HP["wd"],
                     "maxGradNorm": HP["clip"], "seed": HP["seed"], "precision": "fp32",
                     "checkpointEverySteps": 0, "evalEverySteps": 0},
        "outputDir": str(work / "java-out"),
        "terminationMessagePath": str(work / "termination-log"),
    }
    (work / "trial.json").write_text(json.dumps(cfg, indent=1))
    return data


def check_case(name, preset, targets, jar, root):
    work = root / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if name in HF_CASES or name in LAYOUT_CASES:
        model_dir, ref_dir = hf_model(name, work, jar, root)
    else:
        model_dir = ref_dir = work / "model"
        java(["gen-model", preset, model_dir, 1], jar)
    res = {}
    if name in LAYOUT_CASES:
        res["0 layout: shards, dtype, head"] = layout_check(model_dir, name)

    # 0. The base model: Java logits = transformers logits, and the case's features matter.
    java(["logits", model_dir, "-", work / "java-base-logits.safetensors"], jar)
    jb = load_file(str(work / "java-base-logits.safetensors"))
    ref_logits = peft_logits(base_model(ref_dir), jb["input_ids"].long())
    d0 = (ref_logits - jb["logits"]).abs().max().item()
    res["0 base logits = transformers"] = (d0 <= LOGITS_TOL, f"{d0:.2e}")
    if name in HF_CASES:
        plain = AutoConfig.from_pretrained(str(ref_dir))
        for k, v in HF_CASES[name][4].items():
            setattr(plain, k, v)
        dp = (peft_logits(base_model(ref_dir, plain), jb["input_ids"].long()) - ref_logits).abs().max().item()
        res["0 features off changes logits by"] = (dp > 100 * LOGITS_TOL, f"{dp:.2e}")

    data = write_case_inputs(work, model_dir, targets)
    java(["proof-train", work / "trial.json", work / "dump"], jar)
    out = work / "java-out"

    # Tokenizer parity: every Java row is the Python tokenization of a dataset line + EOS.
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    eos = json.loads((model_dir / "config.json").read_text())["eos_token_id"]
    expected = {tuple(tok.encode(json.loads(line)["text"], add_special_tokens=False).ids + [eos])
                for line in data.read_text().splitlines()}
    batches = [json.loads(line) for line in (work / "dump" / "batches.jsonl").read_text().splitlines()]
    rows_ok = True
    for b in batches:
        for r in range(b["rows"]):
            row = b["ids"][r * b["length"]:(r + 1) * b["length"]]
            tgt = b["targets"][r * b["length"]:(r + 1) * b["length"]]
            n = next((i + 1 for i in range(len(tgt) - 1, -1, -1) if tgt[i] != -100), 0) + 1
            rows_ok &= tuple(row[:n]) in expected
    res["tokenizer parity"] = (rows_ok, "same ids" if rows_ok else "ids differ")

    # 1. Java adapter -> PEFT: keys and logits.
    java(["logits", model_dir, out, work / "java-logits.safetensors"], jar)
    jl = load_file(str(work / "java-logits.safetensors"))
    ids = jl["input_ids"].long()
    peft1 = PeftModel.from_pretrained(base_model(ref_dir), str(out))
    file_keys = set(load_file(str(out / "adapter_model.safetensors")).keys())
    model_keys = set(get_peft_model_state_dict(peft1).keys())
    missing, unexpected = sorted(model_keys - file_keys), sorted(file_keys - model_keys)
    res["1 keys (missing/unexpected)"] = (not missing and not unexpected and len(file_keys) > 0,
                                         f"{len(file_keys)} keys, {len(missing)}/{len(unexpected)}")
    d1 = (peft_logits(peft1, ids) - jl["logits"]).abs().max().item()
    nonzero_b = max(v.abs().max().item() for k, v in load_file(str(out / "adapter_model.safetensors")).items() if "lora_B" in k)
    res["1 logits max|diff| <= 1e-4"] = (d1 <= LOGITS_TOL and nonzero_b > 0, f"{d1:.2e}")

    # 2. Same init, data, hyperparameters: 10 optimizer steps in PEFT.
    model2 = PeftModel.from_pretrained(base_model(ref_dir), str(work / "dump" / "initial_adapter"), is_trainable=True)
    model2.train()
    a_params = [p for n, p in model2.named_parameters() if "lora_A" in n]
    b_params = [p for n, p in model2.named_parameters() if "lora_B" in n]
    assert all(p.requires_grad for p in a_params + b_params)
    opt = torch.optim.AdamW([{"params": a_params, "lr": HP["lr"]},
                             {"params": b_params, "lr": HP["lr"] * HP["lora_plus"]}],
                            lr=HP["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=HP["wd"])
    sched = get_scheduler("cosine", opt, num_warmup_steps=HP["warmup"], num_training_steps=HP["steps"])
    java_losses = [h["loss"] for h in json.loads((out / "metrics.json").read_text())["history"]]
    py_losses = []
    for step in range(HP["steps"]):
        micro = [b for b in batches if b["step"] == step]
        total = 0.0
        for b in micro:
            x = torch.tensor(b["ids"]).view(b["rows"], b["length"])
            y = torch.tensor(b["targets"]).view(b["rows"], b["length"])
            logits = model2(input_ids=x).logits
            nll = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1),
                                                    ignore_index=-100, reduction="sum")
            n = max(1, int((y != -100).sum()))
            (nll / n / len(micro)).backward()
            total += nll.item() / n
        torch.nn.utils.clip_grad_norm_(a_params + b_params, HP["clip"])
        opt.step()
        sched.step()
        opt.zero_grad()
        py_losses.append(total / len(micro))
    rel = max(abs(a - b) / abs(b) for a, b in zip(java_losses, py_losses))
    falls = py_losses[-1] < py_losses[0]
    res["2 loss 10 steps max rel <= 1e-3"] = (len(java_losses) == HP["steps"] and rel <= LOSS_REL_TOL,
                                             f"{rel:.2e} ({py_losses[0]:.4f}->{py_losses[-1]:.4f}{'' if falls else ' flat'})")
    java_final = load_file(str(out / "adapter_model.safetensors"))
    py_final = get_peft_model_state_dict(model2)
    dw = max((java_final[k] - py_final[k]).abs().max().item() for k in java_final)
    res["2 final A,B max|diff| (info)"] = (True, f"{dw:.2e}")

    # 3. PEFT adapter (random B, rsLoRA) -> Java logits.
    torch.manual_seed(1)
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=targets, use_rslora=True, init_lora_weights=False,
                     lora_dropout=0.0, task_type="CAUSAL_LM")
    peft3 = get_peft_model(base_model(ref_dir), cfg)
    peft3.eval()
    pdir = work / "peft-adapter"
    peft3.save_pretrained(str(pdir))
    java(["logits", model_dir, pdir, work / "java-logits-peft.safetensors"], jar)
    jl3 = load_file(str(work / "java-logits-peft.safetensors"))
    d3 = (peft_logits(peft3, jl3["input_ids"].long()) - jl3["logits"]).abs().max().item()
    res["3 PEFT adapter in Java max|diff|"] = (d3 <= LOGITS_TOL, f"{d3:.2e}")
    # 4. Merged export (lora-trainer export-merged) of the Java adapter and of the PEFT one.
    res.update(merged_checks(name, model_dir, ref_dir, out, peft1, ids, work, jar, "Java adapter"))
    res.update(merged_checks(name, model_dir, ref_dir, pdir, peft3, ids, work, jar, "PEFT rsLoRA"))
    return res


def merged_checks(name, model_dir, ref_dir, adapter, unmerged, ids, work, jar, label):
    """lora-trainer export-merged of `adapter` into `model_dir`, in shards of 20 KB: transformers
    loads the folder with no missing or unexpected keys, and its logits equal PEFT's
    merge_and_unload() of the same base and adapter and the unmerged PEFT model `unmerged`. A layout
    case's export keeps the base's half precision, so its reference is PEFT's fp32 merge rounded to
    that dtype; the unmerged fp32 model then differs by that rounding and is shown for information."""
    from safetensors import safe_open
    tag = label.split()[0].lower()
    merged = work / f"merged-{tag}"
    shutil.rmtree(merged, ignore_errors=True)
    java(["export-merged", "--base-model", model_dir, "--adapter", adapter, "--out", merged,
          "--max-shard-size", "20KB"], jar)
    res = {}
    dtype = LAYOUT_CASES[name][1] if name in LAYOUT_CASES else torch.float32
    want = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[dtype]
    index = json.loads((merged / "model.safetensors.index.json").read_text())["weight_map"]
    dtypes = set()
    for shard in sorted(set(index.values())):
        with safe_open(str(merged / shard), "pt") as f:
            dtypes |= {f.get_slice(k).get_dtype() for k in f.keys()}
    # config.json (so the dtype is the base's), generation_config.json and the tokenizer as the base's
    copied = [f for f in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")
              if (model_dir / f).exists()]
    same_config = all((merged / f).read_bytes() == (model_dir / f).read_bytes() for f in copied)
    res[f"4 {label}: merged layout"] = (
        len(set(index.values())) > 1 and dtypes == {want} and same_config,
        f"{len(set(index.values()))} {'/'.join(sorted(dtypes))}, {len(copied)} files")
    loadable = merged
    if ref_dir != model_dir:  # transformers-5 config: transformers 4.57 reads the twin's config
        loadable = work / f"merged-{tag}-tf4"
        shutil.rmtree(loadable, ignore_errors=True)
        shutil.copytree(merged, loadable)
        shutil.copy(ref_dir / "config.json", loadable / "config.json")
    torch.manual_seed(0)
    ours, info = AutoModelForCausalLM.from_pretrained(
        str(loadable), dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    ours.eval()
    problems = {k: v for k, v in info.items() if v}
    res[f"4 {label}: transformers loads it"] = (not problems, "no missing/unexpected" if not problems
                                                else str(problems)[:60])
    reference = PeftModel.from_pretrained(base_model(ref_dir), str(adapter)).merge_and_unload()
    if dtype != torch.float32:  # the weights only: model.to() would round RoPE's buffers too
        with torch.no_grad():
            for p in reference.parameters():
                p.copy_(p.to(dtype).to(torch.float32))
    ours_logits = peft_logits(ours, ids)
    d = (ours_logits - peft_logits(reference, ids)).abs().max().item()
    res[f"4 {label}: = merge_and_unload"] = (d <= LOGITS_TOL, f"{d:.2e}")
    du = (ours_logits - peft_logits(unmerged, ids)).abs().max().item()
    if dtype == torch.float32:
        res[f"4 {label}: = unmerged"] = (du <= LOGITS_TOL, f"{du:.2e}")
    else:
        res[f"4 {label}: = unmerged"] = (True, f"{du:.2e} (info: {want})")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", help="comma-separated case names (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    root = Path(a.work)
    results = {}
    failed = False
    for name, preset, targets in CASES:
        if a.only and name not in a.only.split(","):
            continue
        try:
            results[name] = check_case(name, preset, targets, Path(a.jar), root)
        except Exception as e:  # a crash is a failed proof, reported in the table
            results[name] = {"error": (False, str(e).splitlines()[0][:60])}
            print(f"{name}: {e}", file=sys.stderr)
    checks = []
    for r in sorted(results.values(), key=len, reverse=True):  # the case with most checks sets the order
        for k in r:
            if k not in checks:
                checks.append(k)
    # One column per case; a check a case does not have (e.g. "features off" for the Java-generated
    # models) is shown as "-" and counts neither way.
    nfail = print_table("PEFT proof check", "peft-proof", checks, results)
    sys.exit(1 if nfail else 0)


if __name__ == "__main__":
    main()
