#!/usr/bin/env python3
"""Proof that the Java trainer renders chats with a model's own chat template as transformers does.

For each real tokenizer + chat template given (name=modelDir with tokenizer.json and
tokenizer_config.json), on a fixed set of conversations (system prompt, multi-turn, empty contents,
unicode, a Qwen3-style reasoning block, roles that a template refuses), compares the Java side
(`lora-trainer.jar chat-render`) with transformers' `apply_chat_template`:
  - rendered text, with and without add_generation_prompt (tokenize=False): equal;
  - token ids, with and without add_generation_prompt (tokenize=True): equal;
  - the assistant loss mask: equal to the mask derived from transformers' renders. None of these
    templates marks {% generation %} blocks (return_assistant_tokens_mask would be all zeros), so
    the mask is derived by rendering prefixes: an assistant message's tokens start where the
    conversation before it, rendered with the generation prompt, ends, and run to the first
    end-of-turn token (eos_token) included, as training templates with generation blocks mark them.
    Where the template renders prefixes stably, the tokens each assistant message adds to the render
    are also checked to be that span plus whitespace after the end-of-turn token only;
  - a conversation the template refuses (raise_exception) is refused by both (the server: 400).
With a tiny model of each template's family (real vocabulary size), also: the trainer's rows for the
conversations as chat data are the reference ids with loss exactly on the reference mask, its first
loss is transformers', and `lora-trainer serve`'s /v1/chat/completions counts the reference prompt
and answers greedily what transformers' model picks after it.
Prints a pass/fail table; exits 1 if any check fails.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from common import java as run_java, java_cmd, print_table  # noqa: E402

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from transformers import AutoTokenizer  # noqa: E402


def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    [msg("system", "You are a terse assistant."), msg("user", "What is 2+2?"), msg("assistant", "4")],
    [msg("user", "Hi"), msg("assistant", "Hello! How can I help?"), msg("user", "Tell me a joke."),
     msg("assistant", "Why did the tensor cross the road? To broadcast.")],
    [msg("system", "Answer in German."), msg("user", "Good morning"), msg("assistant", "Guten Morgen"),
     msg("user", "Good night")],
    [msg("user", ""), msg("assistant", "")],
    [msg("user", "  spaces and\nnewlines\n\n"), msg("assistant", "\n  indented:\n\tx = 1\n")],
    [msg("system", "Üñíçødé ✓"), msg("user", "Grüße, 你好, こんにちは, Привет 😀 naïve café"),
     msg("assistant", "你好! 😀 — «ok» ½ ∑ x² ≠ y")],
    [msg("user", "\u00a0\u3000no-break and ideographic spaces\u2003\u202f"),
     msg("assistant", "\u2028 line separator, NEL\u0085 \u00a0")],
    [msg("user", "Think first."), msg("assistant", "<think>\nTwo and two.\n</think>\n\nFour.")],
    [msg("user", "Only a question?")],
    [msg("user", "one"), msg("user", "two"), msg("assistant", "three")],
]
# Template variables besides the messages, as a request's tools / documents / chat_template_kwargs
# reach the server: Llama 3.1 lists tools with tojson(indent=4), Qwen3 with tojson and reads
# enable_thinking; a template ignores what it does not use. Tools are written as the server hands
# them over (vLLM's form: type, then function with name, description, parameters, null if absent).
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "Name, e.g. Zürich"}},
                   "required": ["city"]}}}
KWARG_CASES = [
    ([msg("user", "Weather in Paris?")], {"tools": [WEATHER]}),
    ([msg("system", "Be brief."), msg("user", "Weather in Paris?")], {"tools": [WEATHER, {"type": "function", "function": {"name": "noop", "description": None, "parameters": {}}}]}),
    ([msg("user", "What is 2+2?")], {"enable_thinking": False}),
    ([msg("user", "Summarize."), msg("assistant", "Sure."), msg("user", "Now.")], {"enable_thinking": True, "documents": [{"title": "a", "text": "b"}]}),
]
CHECKS = ["text", "text + generation prompt", "ids", "ids + generation prompt", "kwargs: text, prompt, ids", "assistant mask",
          "mask = prefix renders (stable ones)", "refusals agree", "trainer rows = ids + mask",
          "trainer loss = transformers (rel 1e-4)", "server chat = reference prompt + greedy"]
# The tiny model each template is paired with: its family's model_type and the real vocabulary size.
FAMILIES = {"llama3_1": ("llama", 128256), "qwen3": ("qwen3", 151936), "gemma3": ("gemma3_text", 262144)}
TINY = dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1,
            head_dim=16, num_hidden_layers=2, max_position_embeddings=512)


def reference(tok, conv):
    """transformers' renders, ids and the prefix-derived assistant mask, or {"error": ...}."""
    try:
        r = {
            "text": tok.apply_chat_template(conv, tokenize=False),
            "prompt_text": tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True),
            "ids": list(tok.apply_chat_template(conv, tokenize=True)),
            "prompt_ids": list(tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=True)),
        }
    except Exception as e:  # jinja2 TemplateError from raise_exception
        return {"error": str(e)}
    ids = r["ids"]
    eot = tok.convert_tokens_to_ids(tok.eos_token)
    mask = [0] * len(ids)
    added = [0] * len(ids)  # tokens each assistant message adds, where prefixes render stably
    stable = True
    for i, m in enumerate(conv):
        if m["role"] != "assistant":
            continue
        before = list(tok.apply_chat_template(conv[:i], tokenize=True, add_generation_prompt=True))
        start = common_prefix(before, ids)
        end = start
        while end < len(ids) and ids[end] != eot:
            end += 1
        for k in range(start, min(len(ids), end + 1)):
            mask[k] = 1
        upto = list(tok.apply_chat_template(conv[: i + 1], tokenize=True))
        if ids[: len(upto)] != upto or before != ids[: len(before)]:
            stable = False
        else:
            for k in range(len(before), len(upto)):
                added[k] = 1
    r["assistant_mask"] = mask
    if stable:
        extra = [k for k in range(len(ids)) if added[k] != mask[k]]
        r["prefix_ok"] = all(added[k] == 1 and mask[k] == 0 and tok.decode([ids[k]]).strip() == ""
                             and k > 0 and (ids[k - 1] == eot or mask[k - 1] == 0) for k in extra)
    return r


def common_prefix(a, b):
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def check_template(name, src, jar, work):
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / f, d / f)
    conv_file = work / "conversations.json"
    entries = CONVERSATIONS + [{"messages": m, "kwargs": k} for m, k in KWARG_CASES]
    conv_file.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    java = json.loads(run_java(["chat-render", d, conv_file], jar))
    tok = AutoTokenizer.from_pretrained(str(d))
    counts = {c: [0, 0] for c in CHECKS}

    def count(check, ok, i, detail=""):
        counts[check][0] += bool(ok)
        counts[check][1] += 1
        if not ok:
            print(f"{name} conversation {i} {check}: {detail}", file=sys.stderr)

    for i, ((conv, kwargs), j) in enumerate(zip(KWARG_CASES, java[len(CONVERSATIONS):])):
        try:
            ref = [tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=g, **kwargs) for g in (False, True)]
            ref.append(list(tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=True, **kwargs)))
        except Exception as e:  # a refusal (raise_exception)
            ref = {"error": str(e)}
        got = j if "error" in j else [j["text"], j["prompt_text"], j["prompt_ids"]]
        count("kwargs: text, prompt, ids", got == ref or ("error" in ref and "error" in got), i, f"{got!r} != {ref!r}")
    for i, (conv, j) in enumerate(zip(CONVERSATIONS, java)):
        ref = reference(tok, conv)
        if "error" in ref or "error" in j:
            # the same refusal: transformers' message is the template's raise_exception text
            count("refusals agree", "error" in ref and "error" in j and ref["error"] in j["error"], i,
                  f"transformers: {ref.get('error')!r}, Java: {j.get('error')!r}")
            continue
        count("text", j["text"] == ref["text"], i, f"{j['text']!r} != {ref['text']!r}")
        count("text + generation prompt", j["prompt_text"] == ref["prompt_text"], i,
              f"{j['prompt_text']!r} != {ref['prompt_text']!r}")
        count("ids", j["ids"] == ref["ids"], i, f"{j['ids']} != {ref['ids']}")
        count("ids + generation prompt", j["prompt_ids"] == ref["prompt_ids"], i,
              f"{j['prompt_ids']} != {ref['prompt_ids']}")
        if any(m["role"] == "assistant" for m in conv):
            # never empty: even an empty reply is learned as its end-of-turn token
            count("assistant mask", j["assistant_mask"] == ref["assistant_mask"] and any(ref["assistant_mask"]),
                  i, f"{j['assistant_mask']} != {ref['assistant_mask']}")
            if "prefix_ok" in ref:
                count("mask = prefix renders (stable ones)", ref["prefix_ok"], i, "differs beyond trailing whitespace")
    if name in FAMILIES:
        train_check(name, d, jar, work, tok, counts)
    return {c: (n == total, f"{n}/{total}") for c, (n, total) in counts.items() if total}


def train_check(name, tok_dir, jar, work, tok, counts):
    """The chat dataset path: a tiny model of the template's family (real vocabulary size), the
    conversations as an OpenAI-format chat JSONL, one step of `proof-train`; every row the trainer
    batched is a conversation's reference ids with loss exactly on its reference assistant mask, and
    the first step's loss equals transformers' on the same rows (before any update)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    model_type, vocab = FAMILIES[name]
    eot = tok.convert_tokens_to_ids(tok.eos_token)
    cfg = AutoConfig.for_model(model_type, vocab_size=vocab, eos_token_id=eot, bos_token_id=eot,
                               pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eot, **TINY)
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():  # larger than HF's init, so the loss depends on which tokens carry it
        for n, prm in model.named_parameters():
            if "norm" not in n:
                prm.copy_((0.3 if "embed_tokens" in n or "lm_head" in n else 0.1) * torch.randn_like(prm))
    model_dir = work / f"{name}-model"
    model.save_pretrained(str(model_dir), safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tok_dir / f, model_dir / f)
    expected = []
    data = work / f"{name}-chat.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for conv in CONVERSATIONS:
            ref = reference(tok, conv)
            if "error" in ref or not any(m["role"] == "assistant" for m in conv):
                continue
            f.write(json.dumps({"messages": conv}, ensure_ascii=False) + "\n")
            labels = [t if m else -100 for t, m in zip(ref["ids"], ref["assistant_mask"])]
            expected.append((ref["ids"], labels[1:] + [-100]))
    trial = {
        "contractVersion": 1, "job": "chat-proof", "trial": "chat-proof-t0", "trialIndex": 0,
        "baseModel": {"name": name, "path": str(model_dir)},
        "dataset": {"path": str(data), "format": "chat", "validationSplit": 0.0},
        "lora": {"rank": 4, "alpha": 8, "dropout": 0.0, "targetModules": ["q_proj", "v_proj"], "rsLora": False,
                 "loraPlusRatio": 1.0},
        "training": {"learningRate": 1e-3, "maxSteps": 1, "batchSize": len(expected),
                     "gradientAccumulationSteps": 1, "sequenceLength": 256, "warmupSteps": 0,
                     "scheduler": "constant", "weightDecay": 0.0, "maxGradNorm": 1.0, "seed": 42,
                     "precision": "fp32", "checkpointEverySteps": 0, "evalEverySteps": 0},
        "outputDir": str(work / f"{name}-out"), "terminationMessagePath": str(work / f"{name}-termination"),
    }
    (work / f"{name}-trial.json").write_text(json.dumps(trial, indent=1))
    dump = work / f"{name}-dump"
    shutil.rmtree(dump, ignore_errors=True)
    shutil.rmtree(work / f"{name}-out", ignore_errors=True)
    run_java(["proof-train", work / f"{name}-trial.json", dump], jar)
    b = json.loads((dump / "batches.jsonl").read_text().splitlines()[0])
    rows, length = b["rows"], b["length"]
    unmatched = list(expected)
    for r in range(rows):
        row = b["ids"][r * length:(r + 1) * length]
        tgt = b["targets"][r * length:(r + 1) * length]
        hit = next((e for e in unmatched if row[:len(e[0])] == e[0] and tgt[:len(e[0])] == e[1]
                    and all(t == -100 for t in tgt[len(e[0]):])), None)
        ok = hit is not None
        if ok:
            unmatched.remove(hit)
        counts["trainer rows = ids + mask"][0] += ok
        counts["trainer rows = ids + mask"][1] += 1
        if not ok:
            print(f"{name} trainer row {r}: {row} / {tgt} matches no reference conversation", file=sys.stderr)
    ids = torch.tensor(b["ids"]).view(rows, length)
    targets = torch.tensor(b["targets"]).view(rows, length)
    model.eval()
    with torch.no_grad():  # right padding under a causal mask does not reach the positions with loss
        logits = model(input_ids=ids).logits
        ref_loss = torch.nn.functional.cross_entropy(logits.view(-1, vocab), targets.view(-1), ignore_index=-100).item()
    java_loss = json.loads((work / f"{name}-out" / "metrics.json").read_text())["history"][0]["loss"]
    rel = abs(java_loss - ref_loss) / abs(ref_loss)
    ok = rel <= 1e-4 and rows == len(expected)
    counts["trainer loss = transformers (rel 1e-4)"][0] += ok
    counts["trainer loss = transformers (rel 1e-4)"][1] += 1
    serve_check(name, model_dir, model, tok, jar, counts)
    print(f"{name}: trainer loss {java_loss:.6f}, transformers {ref_loss:.6f} (rel {rel:.1e}), {rows} rows",
          file=sys.stdout if ok else sys.stderr)


def serve_check(name, model_dir, model, tok, jar, counts):
    """`lora-trainer serve` on the same tiny model: /v1/chat/completions counts the reference prompt's
    tokens (rendered with the generation prompt) and answers, greedily, the tokens transformers'
    model picks after exactly those prompt ids (up to 6, stopping at the end-of-turn token)."""
    import re
    import torch
    import urllib.error
    import urllib.request
    eot = tok.convert_tokens_to_ids(tok.eos_token)
    p = subprocess.Popen(java_cmd(jar, "serve", "--model", model_dir, "--served-model-name", name,
                                  "--host", "127.0.0.1", "--port", "0"),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        for line in p.stdout:
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise RuntimeError(f"serve exited {p.wait()} before listening")
        for i, conv in enumerate(CONVERSATIONS):
            ref = reference(tok, conv)
            body = json.dumps({"model": name, "messages": conv, "max_tokens": 6, "temperature": 0,
                               "logprobs": True, "return_tokens_as_token_ids": True}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            if "error" in ref:  # a conversation the template refuses is the client's error
                try:
                    urllib.request.urlopen(req, timeout=120)
                    status = 200
                except urllib.error.HTTPError as e:
                    status = e.code
                counts["refusals agree"][0] += status == 400
                counts["refusals agree"][1] += 1
                if status != 400:
                    print(f"{name} conversation {i}: server answered {status} to a refused conversation",
                          file=sys.stderr)
                continue
            with urllib.request.urlopen(req, timeout=120) as r:
                out = json.loads(r.read())
            got = [int(t["token"].split(":", 1)[1]) for t in out["choices"][0]["logprobs"]["content"]]
            ids, want = list(ref["prompt_ids"]), []
            with torch.no_grad():
                for _ in range(6):
                    nxt = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
                    if nxt == eot:
                        break
                    want.append(nxt)
                    ids.append(nxt)
            ok = out["usage"]["prompt_tokens"] == len(ref["prompt_ids"]) and got == want
            counts["server chat = reference prompt + greedy"][0] += ok
            counts["server chat = reference prompt + greedy"][1] += 1
            if not ok:
                print(f"{name} conversation {i} server: {out['usage']['prompt_tokens']} prompt tokens, {got}; "
                      f"reference {len(ref['prompt_ids'])}, {want}", file=sys.stderr)
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("models", nargs="+", help="name=dir with tokenizer.json and tokenizer_config.json")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for spec in a.models:
        name, src = spec.split("=", 1)
        try:
            results[name] = check_template(name, Path(src), Path(a.jar), work)
        except Exception as e:  # a crash is a failed proof, reported in the table
            results[name] = {"error": (False, str(e).splitlines()[0][:60])}
            print(f"{name}: {e}", file=sys.stderr)
    checks = [c for c in CHECKS + ["error"] if any(c in r for r in results.values())]
    nfail = print_table("chat template check", "chat-templates", checks, results)
    sys.exit(1 if nfail else 0)


if __name__ == "__main__":
    main()
