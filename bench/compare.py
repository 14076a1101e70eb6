#!/usr/bin/python3
"""Side-by-side training speed of genmod and PyTorch 1.13 (driven by bench/run.sh).

For each reference config it runs genmod's real CLI and bench/torch_rf.py
alternately, Go, PyTorch, Go, PyTorch (BENCH_ROUNDS rounds), keeps the better
round of each side and prints a markdown report: the machine, both parameter
counts, steps/s, the ratio genmod/PyTorch, the SGEMM peak of both engines and
an estimate of the achieved GFLOP/s.

genmod side:  bin/genmod train --model rf --data D [--net mlp --hidden ...] --batch B --steps 100000
              --stop-after N --log-every 1 --checkpoint-every 0 --out TMP
              steps/s = (N - W) / (elapsed_sec[N] - elapsed_sec[W]) from metrics.jsonl
PyTorch side: bench/torch_rf.py --config C --batch B --steps N --warmup W (same measure)

The machine has 2 cores and may be shared: before every run the script waits
(up to BENCH_QUIET_WAIT seconds) for the other processes to go quiet, and it
reports how many cores the measured process used and how busy the rest of the
machine was during each run.

Environment: GENMOD (binary, default bin/genmod), BENCH_ROUNDS (2),
BENCH_QUICK=1 (few steps, a smoke test), BENCH_QUIET_WAIT (60),
BENCH_SOFT_LIMIT (420: after that many seconds no more waiting or repeats),
BENCH_PEER_BLAS (set by run.sh: a description of the BLAS PyTorch was given),
BENCH_REF_LD_LIBRARY_PATH (set by run.sh when PyTorch runs on an optimized BLAS
by LD_LIBRARY_PATH: the original value, to also time the stock install).
"""

import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GENMOD = os.environ.get("GENMOD", os.path.join(ROOT, "bin", "genmod"))
TORCH = [sys.executable, os.path.join(HERE, "torch_rf.py")]
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "60"))
SOFT_LIMIT = float(os.environ.get("BENCH_SOFT_LIMIT", "420"))
HZ = os.sysconf("SC_CLK_TCK")
STARTED = time.monotonic()
WARMUP = 5
CONTENDED = 0.25  # cores used by other processes above which a run is repeated

# (config, genmod arguments, batch, genmod steps, PyTorch steps), warm-up included. The
# U-Net is ~1 s a step on the Go side: 40 measured steps there; PyTorch gets
# more steps, so that its measured window is not a few hundred milliseconds.
CONFIGS = [
    ("rf-mlp", ["--data", "moons"], 256, 305, 1005),
    ("rf-unet", ["--data", "fashion-mnist-mini"], 64, 45, 125),
    ("rf-unet", ["--data", "fashion-mnist-mini"], 32, 45, 125),
    # Not one of the two reference configs: a matmul-heavy net (3.9M
    # parameters) on the same data, to separate matmul speed from conv speed.
    ("rf-mlp-fm", ["--data", "fashion-mnist-mini", "--net", "mlp", "--hidden", "1024,1024,1024"], 128, 65, 205),
]
# Extra bench/torch_rf.py arguments per config.
TORCH_ARGS = {"rf-mlp-fm": ["--hidden", "1024,1024,1024"]}
if QUICK:
    CONFIGS = [(c, a, b, 12, 12) for c, a, b, _, _ in CONFIGS]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine load


def busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def other_load(seconds=1.0):
    """Cores kept busy by other processes over the next `seconds`."""
    b0, t0 = busy_jiffies(), time.monotonic()
    time.sleep(seconds)
    return (busy_jiffies() - b0) / HZ / (time.monotonic() - t0)


def in_budget():
    """Waiting for quiet and repeating disturbed runs stop after SOFT_LIMIT
    seconds, so that a busy machine does not stretch the run indefinitely."""
    return time.monotonic() - STARTED < SOFT_LIMIT


def wait_quiet():
    deadline = time.monotonic() + (QUIET_WAIT if in_budget() else 0)
    load = other_load()
    waited = False
    while load > 0.3 and time.monotonic() < deadline:
        if not waited:
            log(f"  (machine busy: {load:.1f} cores used by other processes; waiting up to {QUIET_WAIT:.0f} s)")
            waited = True
        load = other_load(2.0)
    return load


def run_measured(cmd, env=None):
    """Runs cmd; returns (completed process, cores it used, cores others used)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, t0 = busy_jiffies(), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    total = (busy_jiffies() - b0) / HZ
    return p, own / wall, max(0.0, (total - own) / wall)


# ---------------------------------------------------------------- the two sides


def run_genmod(args, batch, steps):
    out = tempfile.mkdtemp(prefix="genmod-bench-")
    try:
        run_dir = os.path.join(out, "run")
        cmd = [GENMOD, "train", "--model", "rf", *args, "--batch", str(batch),
               "--steps", "100000", "--stop-after", str(steps), "--log-every", "1",
               "--checkpoint-every", "0", "--out", run_dir]
        p, cores, others = run_measured(cmd)
        elapsed = {}
        try:
            with open(os.path.join(run_dir, "metrics.jsonl")) as f:
                for line in f:
                    m = json.loads(line)
                    elapsed[m["step"]] = m["elapsed_sec"]
        except OSError:
            pass
        if steps not in elapsed or WARMUP not in elapsed:
            raise RuntimeError(f"genmod failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
        params = re.search(r"(\d+) parameters", p.stderr)
        rate = (steps - WARMUP) / (elapsed[steps] - elapsed[WARMUP])
        return {"steps_per_sec": rate, "params": int(params.group(1)) if params else None,
                "cores": cores, "others": others}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_torch(config, batch, steps, env=None):
    cmd = TORCH + ["--config", config, *TORCH_ARGS.get(config, []), "--batch", str(batch), "--steps", str(steps),
                   "--warmup", str(WARMUP)]
    p, cores, others = run_measured(cmd, env)
    if p.returncode != 0:
        raise RuntimeError(f"PyTorch failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(cores=cores, others=others)
    return r


def torch_sgemm(env=None, reps=10):
    p = subprocess.run(TORCH + ["--config", "sgemm", "--reps", str(reps)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def go_sgemm():
    exe = os.path.join(tempfile.mkdtemp(prefix="genmod-gemm-"), "gemm")
    env = dict(os.environ, GOEXPERIMENT="simd")
    subprocess.run(["go", "build", "-o", exe, "./bench/gemm"], cwd=ROOT, env=env, check=True)
    try:
        p = subprocess.run([exe, "-n", "1024", "-reps", "20"], capture_output=True, text=True, check=True)
        return json.loads(p.stdout)
    finally:
        shutil.rmtree(os.path.dirname(exe), ignore_errors=True)


# ---------------------------------------------------------------- report


def machine():
    model, flags = "unknown", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    simd = sorted(x for x in flags if x in ("avx", "avx2", "fma") or x.startswith("avx512"))
    return model, os.cpu_count(), simd


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return "?"


def main():
    model, ncpu, simd = machine()
    genmod_version = sh(GENMOD, "version").splitlines()
    commit = sh("git", "rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if sh("git", "status", "--porcelain", "--untracked-files=no") else ""

    log("SGEMM peaks ...")
    wait_quiet()
    t_mm = torch_sgemm(reps=30)
    g_mm = go_sgemm()

    results = []  # (config, batch, round, side, result)
    for cfg, gargs, batch, go_steps, torch_steps in CONFIGS:
        for rnd in range(1, ROUNDS + 1):
            for side, steps, fn in (("genmod", go_steps, lambda: run_genmod(gargs, batch, go_steps)),
                                    ("PyTorch", torch_steps, lambda: run_torch(cfg, batch, torch_steps))):
                # A run during which other processes kept more than a quarter
                # of a core busy is repeated once (both are reported).
                for attempt in range(2):
                    wait_quiet()
                    log(f"{cfg} batch {batch}, round {rnd}: {side} ({steps} steps) ...")
                    r = fn()
                    r["retry"] = attempt > 0
                    log(f"  {side:8s}{r['steps_per_sec']:8.3f} steps/s  ({r['cores']:.2f} cores used, "
                        f"others {r['others']:.2f})")
                    results.append((cfg, batch, rnd, side, r))
                    if r["others"] <= CONTENDED or not in_budget():
                        break

    # The stock Debian install (its default libblas3, the reference BLAS), for
    # context: one short run each, when run.sh gave PyTorch another BLAS.
    ref = []
    ref_env = None
    if "BENCH_REF_LD_LIBRARY_PATH" in os.environ:
        ref_env = dict(os.environ)
        orig = os.environ["BENCH_REF_LD_LIBRARY_PATH"]
        if orig:
            ref_env["LD_LIBRARY_PATH"] = orig
        else:
            ref_env.pop("LD_LIBRARY_PATH", None)
        log("PyTorch with the stock BLAS (one short run each) ...")
        wait_quiet()
        ref_mm = torch_sgemm(ref_env, reps=3)
        for cfg, _, batch, _, _ in CONFIGS:
            wait_quiet()
            r = run_torch(cfg, batch, 25 if not QUICK else 12, ref_env)
            log(f"  {cfg} batch {batch}: {r['steps_per_sec']:.3f} steps/s")
            ref.append((cfg, batch, r))

    # The SGEMM peaks again at the end: the best of both is reported (a
    # 1024^3 product takes ~15 ms, easily disturbed on a shared machine).
    log("SGEMM peaks again ...")
    wait_quiet()
    t_mm2, g_mm2 = torch_sgemm(reps=30), go_sgemm()
    t_mm = max(t_mm, t_mm2, key=lambda r: r["gflops"])
    g_mm = max(g_mm, g_mm2, key=lambda r: r["gflops"])

    # ------------------------------------------------------------ print
    def best(cfg, batch, side):
        rs = [r for c, b, _, s, r in results if c == cfg and b == batch and s == side]
        return max(rs, key=lambda r: r["steps_per_sec"])

    o = []
    o.append(f"Run {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}, "
             f"`make bench` (bench/run.sh), genmod commit {commit}{dirty}, {ROUNDS} alternating rounds"
             f"{' (BENCH_QUICK=1: smoke-test step counts, numbers not meaningful)' if QUICK else ''}.")
    o.append("")
    o.append(f"- CPU: {model}, {ncpu} cores visible, flags: {' '.join(simd)}"
             f"{'' if any(s.startswith('avx512') for s in simd) else ' (no AVX-512)'}; "
             f"{platform.system()} {platform.release()}. The machine may be shared with other jobs (see 'others').")
    o.append(f"- genmod: {genmod_version[0] if genmod_version else '?'}; "
             + "; ".join(genmod_version[1:]))
    tinfo = next(r for _, _, _, side, r in results if side == "PyTorch")
    deb = sh("dpkg-query", "-W", "-f", "${Version}", "python3-torch")
    o.append(f"- PyTorch: torch {tinfo['torch']} (Debian python3-torch {deb}), "
             f"{tinfo['threads']} threads, BLAS: {os.environ.get('BENCH_PEER_BLAS', tinfo['blas'])}")
    o.append(f"- SGEMM peak, 1024x1024 float32, 2 threads, best of 2x30 (PyTorch) and 2x20 (genmod) products at the start and end of the run: PyTorch torch.mm {t_mm['gflops']:.1f} GFLOP/s, "
             f"genmod's GoMLX backend ({g_mm['backend']}) {g_mm['gflops']:.1f} GFLOP/s"
             + (f"; PyTorch on the stock reference BLAS {ref_mm['gflops']:.1f} GFLOP/s" if ref else ""))
    o.append("")
    o.append("| config | batch | params genmod / PyTorch | genmod steps/s | PyTorch steps/s | genmod/PyTorch "
             "| genmod GFLOP/s | PyTorch GFLOP/s |")
    o.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for cfg, _, batch, _, _ in CONFIGS:
        g, t = best(cfg, batch, "genmod"), best(cfg, batch, "PyTorch")
        flop = t["train_gflop_per_step"]
        mark = "" if g["params"] == t["params"] else " **MISMATCH**"
        o.append(f"| {cfg} | {batch} | {g['params']:,} / {t['params']:,}{mark} | {g['steps_per_sec']:.2f} "
                 f"| {t['steps_per_sec']:.2f} | **{g['steps_per_sec'] / t['steps_per_sec']:.2f}** "
                 f"| {g['steps_per_sec'] * flop:.1f} | {t['steps_per_sec'] * flop:.1f} |")
    o.append("")
    o.append("GFLOP/s = steps/s x the nominal training FLOPs of the PyTorch network: 3 x 2 x the multiply-adds "
             "of its Linear and Conv2d layers in one forward pass (forward, input gradient, weight gradient), "
             "counted with forward hooks; norms, activations, the optimizer and EMA are not counted. "
             + ", ".join(f"{cfg} batch {b}: {best(cfg, b, 'PyTorch')['train_gflop_per_step']:.2f} GFLOP/step"
                         for cfg, _, b, _, _ in CONFIGS)
             + ". The same count is used for both sides (genmod's Upsample computes the nearest-upsample + 3x3 conv "
               "as four 2x2 convs at low resolution, 4/9 of the nominal work of that layer).")
    o.append("")
    o.append("All runs (steps/s over the measured steps after a 5-step warm-up; 'cores' = CPU time of the "
             "measured process / its wall time, start-up included; 'others' = cores busy with other processes "
             "meanwhile; a run with others > 0.25 was repeated once, in the first "
             f"{SOFT_LIMIT:.0f} s of the benchmark):")
    o.append("")
    o.append("| config | batch | round | side | steps | steps/s | cores | others |")
    o.append("|---|---:|---:|---|---:|---:|---:|---:|")
    steps_of = {(c, b): (gs, ts) for c, _, b, gs, ts in CONFIGS}
    for cfg, batch, rnd, side, r in results:
        gs, ts = steps_of[(cfg, batch)]
        o.append(f"| {cfg} | {batch} | {rnd}{' (repeat)' if r['retry'] else ''} | {side} | {gs if side == 'genmod' else ts} "
                 f"| {r['steps_per_sec']:.2f} | {r['cores']:.2f} | {r['others']:.2f} |")
    if ref:
        o.append("")
        o.append("PyTorch as installed, on Debian's default `libblas3` (the netlib reference BLAS), "
                 "one run of 25 steps each, for context (not in the comparison above):")
        o.append("")
        o.append("| config | batch | PyTorch steps/s (reference BLAS) | genmod/that |")
        o.append("|---|---:|---:|---:|")
        for cfg, batch, r in ref:
            g = best(cfg, batch, "genmod")
            o.append(f"| {cfg} | {batch} | {r['steps_per_sec']:.2f} | {g['steps_per_sec'] / r['steps_per_sec']:.2f} |")
    o.append("")
    o.append(f"Total benchmark time: {time.monotonic() - STARTED:.0f} s.")
    print("\n".join(o))


if __name__ == "__main__":
    main()
