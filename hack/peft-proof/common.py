"""What the PEFT proof and the chat-template proof share: running the trainer jar, and the
results table (one column per case, one row per check, PASS/FAIL with its figure)."""
import subprocess


def java_cmd(jar, *args):
    """The command line that runs the trainer jar offline with `args`."""
    return ["java", "-Dai.djl.offline=true", "-Dai.djl.default_engine=PyTorch", "-jar", str(jar)] + [
        str(a) for a in args
    ]


def java(args, jar):
    """Runs the trainer jar; its stdout, or an error with the end of its stderr."""
    cmd = java_cmd(jar, *args)
    p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout


def print_table(title, summary, checks, results):
    """Prints results {case: {check: (passed, figure)}} for `checks` in order, a check a case does
    not have as "-" (it counts neither way), then "<summary>: N passed, N failed"; returns the
    number failed."""
    cells = {n: [(f"{'PASS' if r[c][0] else 'FAIL'} {r[c][1]}" if c in r else "-") for c in checks]
             for n, r in results.items()}
    widths = {n: max(len(n), *(len(x) for x in cells[n])) + 1 for n in results}
    w = max(len(c) for c in checks) + 2
    print(f"{title:<{w}}" + "".join(f"| {n:<{widths[n]}}" for n in results))
    print("-" * (w + sum(widths[n] + 2 for n in results)))
    passed = nfail = 0
    for i, c in enumerate(checks):
        print(f"{c:<{w}}" + "".join(f"| {cells[n][i]:<{widths[n]}}" for n in results))
        for r in results.values():
            if c in r:
                passed += r[c][0]
                nfail += not r[c][0]
    print(f"{summary}: {passed} passed, {nfail} failed")
    return nfail
