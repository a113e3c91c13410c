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
  - a conversation the template refuses (raise_exception) is refused by both.
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
    [msg("user", "Think first."), msg("assistant", "<think>\nTwo and two.\n</think>\n\nFour.")],
    [msg("user", "Only a question?")],
    [msg("user", "one"), msg("user", "two"), msg("assistant", "three")],
]
CHECKS = ["text", "text + generation prompt", "ids", "ids + generation prompt", "assistant mask",
          "mask = prefix renders (stable ones)", "refusals agree"]


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
    conv_file.write_text(json.dumps(CONVERSATIONS, ensure_ascii=False), encoding="utf-8")
    cmd = ["java", "-Dai.djl.offline=true", "-Dai.djl.default_engine=PyTorch", "-jar", str(jar),
           "chat-render", str(d), str(conv_file)]
    p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        raise RuntimeError(f"chat-render exit {p.returncode}: {p.stderr.strip()[-500:]}")
    java = json.loads(p.stdout)
    tok = AutoTokenizer.from_pretrained(str(d))
    counts = {c: [0, 0] for c in CHECKS}

    def count(check, ok, i, detail=""):
        counts[check][0] += bool(ok)
        counts[check][1] += 1
        if not ok:
            print(f"{name} conversation {i} {check}: {detail}", file=sys.stderr)

    for i, (conv, j) in enumerate(zip(CONVERSATIONS, java)):
        ref = reference(tok, conv)
        if "error" in ref or "error" in j:
            count("refusals agree", "error" in ref and "error" in j, i,
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
    return {c: (n == total, f"{n}/{total}") for c, (n, total) in counts.items() if total}


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
    cells = {n: [(f"{'PASS' if r[c][0] else 'FAIL'} {r[c][1]}" if c in r else "-") for c in checks]
             for n, r in results.items()}
    widths = {n: max(len(n), *(len(x) for x in cells[n])) + 1 for n in results}
    w = max(len(c) for c in checks) + 2
    print(f"{'chat template check':<{w}}" + "".join(f"| {n:<{widths[n]}}" for n in results))
    print("-" * (w + sum(widths[n] + 2 for n in results)))
    passed = nfail = 0
    for i, c in enumerate(checks):
        print(f"{c:<{w}}" + "".join(f"| {cells[n][i]:<{widths[n]}}" for n in results))
        for r in results.values():
            if c in r:
                passed += r[c][0]
                nfail += not r[c][0]
    print(f"chat-templates: {passed} passed, {nfail} failed")
    sys.exit(1 if nfail else 0)


if __name__ == "__main__":
    main()
