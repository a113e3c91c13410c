#!/usr/bin/env python3
"""PEFT side of the trainer benchmark: timed LoRA training steps on random tokens.

Same shapes, threads, precision, batch, sequence length, rank and target modules as the Java side
(`lora-trainer.jar bench`); prints one JSON line. Attention is transformers' SDPA (its default and
fastest standard setting); with --precision bf16, PEFT's standard mixed precision: the model loaded
in bf16, the LoRA weights float32 (PEFT's autocast_adapter_dtype), forward and loss under
torch.autocast(bf16); --precision fp16 the same in float16 with torch.amp.GradScaler's dynamic loss
scaling (transformers' Trainer with fp16=True).
With --device cuda (bench/gpu), each timed step ends when the GPU is done (synchronize), AdamW is
the fused CUDA kernel (transformers' default optimizer there), and the peak GPU memory is reported
as the Java side measures it: device memory in use after each step (CUDA context + the caching
allocator's reservation), besides torch's own allocated/reserved peaks.
"""
import argparse
import json
import os
import resource
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("batch", type=int)
    ap.add_argument("seq", type=int)
    ap.add_argument("steps", type=int)
    ap.add_argument("targets")
    ap.add_argument("rank", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--prompt-fraction", type=float, default=0.0,
                    help="leading positions of each row without loss (SFT prompts); PEFT still computes their logits")
    ap.add_argument("--gradient-checkpointing", action="store_true",
                    help="transformers' gradient checkpointing (use_reentrant=False), as the Java side's"
                    " training.gradientCheckpointing")
    ap.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                    help="bf16 or fp16: mixed precision (half-precision base model, float32 adapters,"
                    " autocast; fp16 with loss scaling)")
    ap.add_argument("--lengths", help="file of example lengths (comma-separated): batches of that many"
                    " examples padded to the longest, as the standard dynamic-padding collator; tokens/s counts"
                    " real tokens only")
    ap.add_argument("--profile", help="write torch.profiler's table of the timed steps' operators, by GPU"
                    " (or CPU) time, to this file: where a step's time goes")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(3)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    dtype = half or torch.float32
    cuda = a.device == "cuda"
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype, attn_implementation="sdpa").to(a.device)
    # "all-linear" is PEFT's own shorthand (every linear layer but the LM head), as the Java side's
    modules = a.targets if a.targets == "all-linear" else a.targets.split(",")
    cfg = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0, target_modules=modules,
                     task_type="CAUSAL_LM")
    if a.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=cuda)
    scaler = torch.amp.GradScaler(a.device, enabled=a.precision == "fp16")  # else passes through
    vocab = model.config.vocab_size
    lengths = None
    if a.lengths:
        with open(a.lengths) as f:
            lengths = [int(n) for n in f.read().strip().split(",")]
    times = []
    real_tokens = 0
    cpu_start = 0.0
    losses = []
    peak_gpu = -1
    profiler = None
    for s in range(2 + a.steps):
        if s == 2:
            cpu_start = time.process_time()
            if a.profile:
                activities = [torch.profiler.ProfilerActivity.CPU]
                if cuda:
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                profiler = torch.profiler.profile(activities=activities)
                profiler.__enter__()
        mask = None
        if lengths:
            batch = [lengths[(s * a.batch + i) % len(lengths)] for i in range(a.batch)]
            longest = max(batch)
            ids = torch.randint(0, vocab, (a.batch, longest))
            mask = torch.zeros(a.batch, longest, dtype=torch.long)
            for i, n in enumerate(batch):
                mask[i, :n] = 1
            targets = torch.roll(ids, -1, dims=1)
            targets[:, -1] = -100
            targets[torch.roll(mask, -1, dims=1) == 0] = -100
            tokens = sum(batch)
        else:
            ids = torch.randint(0, vocab, (a.batch, a.seq))
            targets = torch.roll(ids, -1, dims=1)
            targets[:, -1] = -100
            targets[:, : int(a.prompt_fraction * a.seq)] = -100
            tokens = a.batch * a.seq
        ids, targets, mask = (None if t is None else t.to(a.device) for t in (ids, targets, mask))
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(a.device, dtype=half or torch.bfloat16, enabled=half is not None):
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits.view(-1, vocab).float(), targets.view(-1),
                                                     ignore_index=-100)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        losses.append(loss.item())  # waits for the GPU, as the Java side reading its loss
        if cuda:
            torch.cuda.synchronize()
            free, total = torch.cuda.mem_get_info()
            peak_gpu = max(peak_gpu, total - free)
        if s >= 2:
            times.append(time.perf_counter() - t0)
            real_tokens += tokens
    if profiler:
        profiler.__exit__(None, None, None)
        write_profile(profiler, a.profile, a.steps, "cuda" if cuda else "cpu")
    total = sum(times)
    print(json.dumps({
        "impl": "python-peft",
        "gradient_checkpointing": a.gradient_checkpointing,
        "precision": a.precision,
        "prompt_fraction": a.prompt_fraction,
        "tokens_per_s": a.batch * a.seq * a.steps / total,
        **({"real_tokens_per_s": real_tokens / total} if lengths else {}),
        "step_s_median": sorted(times)[len(times) // 2],
        "cpu_s_per_step": (time.process_time() - cpu_start) / a.steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "loss_first": losses[0],
        "loss_last": losses[-1],
        **({"peak_gpu_mb": peak_gpu / 2**20,
            "torch_max_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
            "torch_max_reserved_mb": torch.cuda.max_memory_reserved() / 2**20} if cuda else {}),
    }))


def write_profile(profiler, path, steps, device):
    """Where a step's time goes: on a GPU, the kernels' total per step (against the step's wall time:
    how busy the GPU was) and the kernels by name; then the operators by self time."""
    with open(path, "w") as f:
        if device == "cuda":
            kernels = {}
            for e in profiler.events():
                if e.device_type == torch.autograd.DeviceType.CUDA:
                    kernels.setdefault(e.name, []).append(e.time_range.elapsed_us())
            total_us = sum(sum(times) for times in kernels.values())
            f.write(f"steps profiled: {steps}; GPU kernel time per step: {total_us / steps / 1e3:.1f} ms,"
                    f" {sum(len(t) for t in kernels.values()) / steps:.0f} kernels\n\n")
            f.write("ms/step  share  calls/step  kernel\n")
            for name, times in sorted(kernels.items(), key=lambda kv: -sum(kv[1]))[:60]:
                f.write(f"{sum(times) / steps / 1e3:7.2f} {sum(times) / total_us:6.1%} {len(times) / steps:11.0f}"
                        f"  {name[:150]}\n")
            f.write("\n")
        f.write(profiler.key_averages().table(sort_by=f"self_{device}_time_total", row_limit=40,
                                              max_name_column_width=60))


if __name__ == "__main__":
    main()
