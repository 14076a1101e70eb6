#!/usr/bin/python3
"""Side-by-side training and sampling speed of genmod and PyTorch 1.13 (driven by bench/run.sh).

For each training config it runs genmod's real CLI and bench/torch_rf.py
alternately, Go, PyTorch, Go, PyTorch (BENCH_ROUNDS rounds), keeps the better
round of each side and prints a markdown report: the machine, both parameter
counts, steps/s, the ratio genmod/PyTorch, the SGEMM peak of both engines and
an estimate of the achieved GFLOP/s. Then sampling throughput (images/s) of
the rf U-Net with four samplers (BENCH_SAMPLE_ROUNDS rounds, default 1).

Training, genmod side:  bin/genmod train --model M --data D [--net mlp --hidden ...] --batch B --steps 100000
              --stop-after N --log-every 1 --checkpoint-every 0 --out TMP
              steps/s = (N - W) / (elapsed_sec[N] - elapsed_sec[W]) from metrics.jsonl
PyTorch side: bench/torch_rf.py --config C --batch B --steps N --warmup W (same measure)

Sampling, genmod side:  bin/genmod sample --run RUN --n 500 --sampler S --steps K --format npy --out TMP
              (RUN: an rf U-Net run trained for 1 step; speed does not depend on the weights),
              timed as the wall time of the whole command; its fixed cost (start, loading,
              graph compilation, writing) is the intercept of euler K=10 vs K=50 and is
              subtracted for the "steady" images/s.
PyTorch side: bench/torch_rf.py --config rf-unet --sampler S --sample-steps K --n 500: the same
              network passes under torch.no_grad(), the sampler loop timed after one untimed pass.

The DiT mirror is checked first: bench/ditcheck writes genmod's nn.DiT output
for random weights, torch_rf.py --check loads them into its DiT and compares.
The U-Net is checked through `genmod export`: bench/unetcheck exports a run to
safetensors, bench/torch_unet_check.py loads it into the mirror and compares.
The flow mirrors (bench/torch_flows.py) are checked the same way against
bench/flowcheck: log|det| and log p of one batch, and glow's 1x1 conv matrices.
The VAE rows (bench/torch_vae.py) have no weight-level check; their report
gives both sides' parameter counts and the loss of step 1.
The GAN rows (dcgan, wgan-gp) run bench/torch_gan.py instead of torch_rf.py
(same arguments, same JSON line); a step there is one generator update with
its k discriminator (critic) updates, as in genmod's metrics.jsonl. They have
no weight-level check either; the report gives both sides' parameter counts
(and the PyTorch generator's and discriminator's).

The machine has 2 cores and may be shared: before every run the script waits
(up to BENCH_QUIET_WAIT seconds) for the other processes to go quiet, and it
reports how many cores the measured process used and how busy the rest of the
machine was during each run.

Environment: GENMOD (binary, default bin/genmod), BENCH_CONFIGS (a comma-separated
subset of the training configs below (rf-mlp, rf-unet, rf-mlp-fm, dit,
realnvp-mlp, glow, vae-mlp, iwae-mlp, dcgan, wgan-gp), plus "sampling" for
the sampling rows; default: all; e.g. BENCH_CONFIGS=dcgan,wgan-gp for the two
GAN rows), BENCH_ROUNDS (2),
BENCH_SAMPLE_ROUNDS (1; 0 skips sampling), BENCH_QUICK=1 (a smoke test: 8
steps, sampler steps 1-3 on 100 images, one round, and the next two default
to 0), BENCH_QUIET_WAIT (60),
BENCH_SOFT_LIMIT (1200: after that many seconds no more waiting or repeats),
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
TORCH_GAN = [sys.executable, os.path.join(HERE, "torch_gan.py")]
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "2"))
SAMPLE_ROUNDS = int(os.environ.get("BENCH_SAMPLE_ROUNDS", "1"))
# A smoke test (BENCH_QUICK=1) neither waits for quiet nor repeats, unless asked to.
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "0" if QUICK else "60"))
SOFT_LIMIT = float(os.environ.get("BENCH_SOFT_LIMIT", "0" if QUICK else "1200"))
HZ = os.sysconf("SC_CLK_TCK")
STARTED = time.monotonic()
WARMUP = 5
CONTENDED = 0.25  # cores used by other processes above which a run is repeated

# (config, genmod arguments, batch, genmod steps, PyTorch steps), warm-up included. The
# U-Net and the DiT are ~1 s a step on the Go side: 40 measured steps there; PyTorch gets
# more steps, so that its measured window is not a few hundred milliseconds.
CONFIGS = [
    ("rf-mlp", ["--model", "rf", "--data", "moons"], 256, 305, 1005),
    ("rf-unet", ["--model", "rf", "--data", "fashion-mnist-mini"], 64, 45, 125),
    ("rf-unet", ["--model", "rf", "--data", "fashion-mnist-mini"], 32, 45, 125),
    # Not one of the two reference configs: a matmul-heavy net (3.9M
    # parameters) on the same data, to separate matmul speed from conv speed.
    ("rf-mlp-fm", ["--model", "rf", "--data", "fashion-mnist-mini", "--net", "mlp", "--hidden", "1024,1024,1024"],
     128, 65, 205),
    # Rectified flow with nn.DiT (DefaultDiTConfig(10), 0.99M parameters).
    ("dit", ["--model", "dit", "--data", "fashion-mnist-mini"], 64, 45, 125),
    # Normalizing flows (bench/torch_flows.py), the README's commands: RealNVP
    # on moons (6 affine couplings with 64,64 MLPs, 26,508 parameters) and Glow
    # on images (2 levels of 4 steps, coupling convs 64 wide, 76,096
    # parameters), loss -log p(x).
    ("realnvp-mlp", ["--model", "realnvp", "--data", "moons"], 256, 305, 1005),
    ("glow", ["--model", "glow", "--data", "fashion-mnist-mini", "--dequantize"], 32, 45, 125),
    # VAEs (bench/torch_vae.py): models/vae's defaults, MLP encoder 784 -> 200
    # -> 200 -> 2x50 and decoder 50 -> 200 -> 200 -> 784 (425,284 parameters),
    # Bernoulli decoder on images binarized anew every batch, loss -ELBO/784;
    # iwae-mlp the same network on the K=5 importance-weighted bound (the
    # decoder runs on 5x the batch). Batch 100: Kingma & Welling's minibatch,
    # and it divides the 6000 images (128 would drop 112 of them each epoch).
    ("vae-mlp", ["--model", "vae", "--data", "fashion-mnist-mini", "--binarize", "dynamic"], 100, 305, 1005),
    ("iwae-mlp", ["--model", "iwae", "--data", "fashion-mnist-mini", "--binarize", "dynamic"], 100, 105, 305),
    # GANs (bench/torch_gan.py): models/gan's conv pair with its defaults on
    # 28x28 (G: z 100 + class embedding 32 -> Dense to 7x7x128 -> GroupNorm,
    # ReLU -> upsample+conv3x3 to 14x14x64 -> GroupNorm, ReLU -> upsample+conv3x3
    # to 28x28x1 -> tanh, 909,281 parameters; D: two SpaceToDepth + 3x3 convs
    # 64, 128, LeakyReLU 0.2, Dense score + class projection, 372,673;
    # 1,281,954 in all), class-conditional. One step = one G update and its
    # k D updates, each on a fresh batch. dcgan: k 1, Adam(2e-4, 0.5, 0.999),
    # non-saturating G loss; wgan-gp: k 5 critic updates with the per-example
    # gradient penalty (a second-order gradient), Adam(1e-4, 0.5, 0.9).
    # Batch 64: WGAN-GP's (Gulrajani et al.), and the other image rows'.
    ("dcgan", ["--model", "dcgan", "--data", "fashion-mnist-mini"], 64, 125, 285),
    ("wgan-gp", ["--model", "wgan-gp", "--data", "fashion-mnist-mini"], 64, 30, 75),
]
# The PyTorch script of each config (default: bench/torch_rf.py).
TORCH_SCRIPTS = {"dcgan": TORCH_GAN, "wgan-gp": TORCH_GAN}
# The GAN rows: their report line gives the PyTorch networks' parameters apart.
GAN_CONFIGS = ("dcgan", "wgan-gp")
# Extra bench/torch_rf.py arguments per config.
TORCH_ARGS = {"rf-mlp-fm": ["--hidden", "1024,1024,1024"]}
# Steps of the one run per config on PyTorch's stock reference BLAS (context only).
REF_STEPS = {"dit": 15}

# Sampling: (sampler, steps K) of `genmod sample` on an rf U-Net run, n
# samples (one batch: diffusion.maxBatch is 500). euler and ddim make one
# network pass per step, heun two. The first two give genmod's fixed cost.
SAMPLE_N = 500
SAMPLES = [("euler", 10), ("euler", 50), ("heun", 25), ("ddim", 50)]
if QUICK:
    CONFIGS = [(c, a, b, 8, 8) for c, a, b, _, _ in CONFIGS]
    REF_STEPS = {c: 8 for c, *_ in CONFIGS}
    SAMPLE_N = 100
    SAMPLES = [("euler", 1), ("euler", 3), ("heun", 1), ("ddim", 2)]
# BENCH_CONFIGS=realnvp-mlp,glow runs only those rows (and "sampling" the sampling rows;
# BENCH_CONFIGS=dcgan,wgan-gp the GAN rows).
SELECTED = [c for c in os.environ.get("BENCH_CONFIGS", "").split(",") if c]
if SELECTED:
    unknown = set(SELECTED) - {c for c, *_ in CONFIGS} - {"sampling"}
    if unknown:
        sys.exit(f"BENCH_CONFIGS: unknown {sorted(unknown)} (valid: {', '.join(dict.fromkeys(c for c, *_ in CONFIGS))}, sampling)")
    CONFIGS = [e for e in CONFIGS if e[0] in SELECTED]
    if "sampling" not in SELECTED:
        SAMPLE_ROUNDS = 0
FLOW_CHECKS = {"realnvp-mlp": "realnvp", "glow": "glow"}  # torch_rf.py config -> bench/flowcheck -model
# Rows whose report compares the loss of step 1 on both sides (random weights
# and noise on each side, so equal in expectation, not bit for bit).
FIRST_LOSS = ("vae-mlp", "iwae-mlp")


def passes(sampler, steps):
    return 2 * steps if sampler == "heun" else steps


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
        cmd = [GENMOD, "train", *args, "--batch", str(batch),
               "--steps", "100000", "--stop-after", str(steps), "--log-every", "1",
               "--checkpoint-every", "0", "--out", run_dir]
        p, cores, others = run_measured(cmd)
        elapsed, losses = {}, {}
        try:
            with open(os.path.join(run_dir, "metrics.jsonl")) as f:
                for line in f:
                    m = json.loads(line)
                    elapsed[m["step"]] = m["elapsed_sec"]
                    losses[m["step"]] = m["loss"]
        except OSError:
            pass
        if steps not in elapsed or WARMUP not in elapsed:
            raise RuntimeError(f"genmod failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
        params = re.search(r"(\d+) parameters", p.stderr)
        rate = (steps - WARMUP) / (elapsed[steps] - elapsed[WARMUP])
        return {"steps_per_sec": rate, "params": int(params.group(1)) if params else None,
                "first_loss": losses.get(1), "cores": cores, "others": others}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_torch(config, batch, steps, env=None):
    cmd = TORCH_SCRIPTS.get(config, TORCH) + ["--config", config, *TORCH_ARGS.get(config, []), "--batch", str(batch),
                                              "--steps", str(steps), "--warmup", str(WARMUP)]
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


def check_result(cmd, name):
    """Runs a PyTorch check script: its last stdout line is a JSON result."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = p.stdout.strip().splitlines()
    if not lines:
        return {"error": f"{name} failed: " + p.stderr[-500:]}
    return json.loads(lines[-1])


def mirror_check(tool="ditcheck", config="dit", tool_args=()):
    """genmod's network (bench/TOOL: nn.DiT, or bench/flowcheck: a flow's
    log p) and the PyTorch mirror on the same random weights and inputs
    (torch_rf.py --config CONFIG --check): the torch_rf.py result, or
    {"error": ...}."""
    tmp = tempfile.mkdtemp(prefix=f"genmod-{tool}-")
    try:
        exe = os.path.join(tmp, tool)
        env = dict(os.environ, GOEXPERIMENT="simd")
        p = subprocess.run(["go", "build", "-o", exe, "./bench/" + tool], cwd=ROOT, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": f"go build ./bench/{tool} failed: " + p.stderr[-500:]}
        dump = os.path.join(tmp, "out.json")
        with open(dump, "w") as f:
            p = subprocess.run([exe, *tool_args], stdout=f, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            return {"error": f"bench/{tool} failed: " + p.stderr[-500:]}
        return check_result(TORCH + ["--config", config, "--check", dump], "torch_rf.py --check")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unet_check():
    """The U-Net through `genmod export`: bench/unetcheck trains a 3-step rf
    run, exports it to safetensors and writes one forward pass;
    torch_unet_check.py loads the file into torch_rf.py's U-Net and compares
    (1e-5 relative). The result, or {"error": ...}."""
    tmp = tempfile.mkdtemp(prefix="genmod-unetcheck-")
    try:
        env = dict(os.environ, GOEXPERIMENT="simd")
        p = subprocess.run(["go", "run", "./bench/unetcheck", "--out", tmp], cwd=ROOT, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": "bench/unetcheck failed: " + p.stderr[-500:]}
        return check_result([sys.executable, os.path.join(HERE, "torch_unet_check.py"), tmp], "torch_unet_check.py")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sample_run(tmp):
    """Trains the rf U-Net for one step (a checkpoint at step 1, no preview
    samples) in tmp/run; sampling speed does not depend on the weights."""
    run_dir = os.path.join(tmp, "run")
    cmd = [GENMOD, "train", "--model", "rf", "--data", "fashion-mnist-mini", "--batch", "8", "--steps", "100000",
           "--stop-after", "2", "--checkpoint-every", "1", "--log-every", "1", "--out", run_dir]
    p = subprocess.run(cmd, capture_output=True, text=True)
    ck = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(ck) or not os.listdir(ck):
        raise RuntimeError(f"genmod failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
    params = re.search(r"(\d+) parameters", p.stderr)
    return run_dir, int(params.group(1)) if params else None


def run_genmod_sample(run_dir, sampler, steps, n):
    out = os.path.join(os.path.dirname(run_dir), "samples.npy")
    if os.path.exists(out):
        os.unlink(out)
    cmd = [GENMOD, "sample", "--run", run_dir, "--n", str(n), "--sampler", sampler, "--steps", str(steps),
           "--format", "npy", "--out", out]
    t0 = time.monotonic()
    p, cores, others = run_measured(cmd)
    wall = time.monotonic() - t0
    if p.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) < n * 28 * 28 * 4:
        raise RuntimeError(f"genmod failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
    return {"wall": wall, "cores": cores, "others": others}


def run_torch_sample(sampler, steps, n):
    cmd = TORCH + ["--config", "rf-unet", "--sampler", sampler, "--sample-steps", str(steps), "--n", str(n)]
    t0 = time.monotonic()
    p, cores, others = run_measured(cmd)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"PyTorch failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(wall=wall, cores=cores, others=others)
    return r


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

    check = None
    if any(c == "dit" for c, *_ in CONFIGS):
        log("DiT mirror check (bench/ditcheck) ...")
        check = mirror_check()
        log(f"  {check}")
    ucheck = None
    if any(c == "rf-unet" for c, *_ in CONFIGS):
        log("U-Net export check (bench/unetcheck, genmod export) ...")
        ucheck = unet_check()
        log(f"  {ucheck}")
    flow_checks = {}
    for cfg in dict.fromkeys(c for c, *_ in CONFIGS if c in FLOW_CHECKS):
        log(f"{cfg} mirror check (bench/flowcheck) ...")
        flow_checks[cfg] = mirror_check("flowcheck", cfg, ["-model", FLOW_CHECKS[cfg]])
        log(f"  {flow_checks[cfg]}")

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

    samples = []  # (sampler, steps, round, side, result)
    if SAMPLE_ROUNDS > 0:
        tmp = tempfile.mkdtemp(prefix="genmod-bench-sample-")
        try:
            log("sampling: training an rf U-Net run for 1 step ...")
            run_dir, sample_params = sample_run(tmp)
            for rnd in range(1, SAMPLE_ROUNDS + 1):
                for sampler, k in SAMPLES:
                    for side, fn in (("genmod", lambda: run_genmod_sample(run_dir, sampler, k, SAMPLE_N)),
                                     ("PyTorch", lambda: run_torch_sample(sampler, k, SAMPLE_N))):
                        for attempt in range(2):
                            wait_quiet()
                            log(f"sample {sampler} K={k} ({passes(sampler, k)} passes, n {SAMPLE_N}), round {rnd}: {side} ...")
                            r = fn()
                            r["retry"] = attempt > 0
                            log(f"  {side:8s}{r['wall']:8.2f} s wall"
                                + (f", sampler loop {r['sec']:.2f} s" if side == "PyTorch" else "")
                                + f"  ({r['cores']:.2f} cores used, others {r['others']:.2f})")
                            samples.append((sampler, k, rnd, side, r))
                            if r["others"] <= CONTENDED or not in_budget():
                                break
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

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
            r = run_torch(cfg, batch, REF_STEPS.get(cfg, 25), ref_env)
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
             f"`make bench` (bench/run.sh{', BENCH_CONFIGS=' + ','.join(SELECTED) if SELECTED else ''}), genmod commit {commit}{dirty}, "
             f"{ROUNDS} alternating round{'s' if ROUNDS > 1 else ''}"
             f"{' (BENCH_QUICK=1: smoke-test step counts, numbers not meaningful)' if QUICK else ''}.")
    o.append("")
    o.append(f"- CPU: {model}, {ncpu} cores visible, flags: {' '.join(simd)}"
             f"{'' if any(s.startswith('avx512') for s in simd) else ' (no AVX-512)'}; "
             f"{platform.system()} {platform.release()}. The machine may be shared with other jobs (see 'others').")
    o.append(f"- genmod: {genmod_version[0] if genmod_version else '?'}; "
             + "; ".join(genmod_version[1:]))
    # torch version, threads and BLAS from any PyTorch run (BENCH_CONFIGS=sampling has no training runs)
    tinfo = next(r for *_, side, r in results + samples if side == "PyTorch")
    deb = sh("dpkg-query", "-W", "-f", "${Version}", "python3-torch")
    o.append(f"- PyTorch: torch {tinfo['torch']} (Debian python3-torch {deb}), "
             f"{tinfo['threads']} threads, BLAS: {os.environ.get('BENCH_PEER_BLAS', tinfo['blas'])}")
    if check is None:
        pass
    elif "error" in check:
        o.append(f"- DiT mirror check FAILED to run: {check['error']}")
    else:
        o.append(f"- DiT mirror check (bench/ditcheck, `torch_rf.py --check`): genmod's nn.DiT and the PyTorch DiT "
                 f"on the same random weights ({check['params']:,} parameters) and inputs differ by at most "
                 f"{check['max_abs_diff']:.1e} (outputs up to {check['max_abs_out']:.1f}): "
                 + ("same function." if check["ok"] else "**MISMATCH: the PyTorch DiT is not genmod's.**"))
    if ucheck is not None and "error" in ucheck:
        o.append(f"- U-Net export check FAILED to run: {ucheck['error']}")
    elif ucheck is not None:
        o.append(f"- U-Net export check (bench/unetcheck → `genmod export` safetensors → bench/torch_unet_check.py): "
                 f"the PyTorch U-Net loaded from genmod's export ({ucheck['params']:,} parameters, {ucheck['tensors']} tensors) "
                 f"differs from genmod's forward pass by {ucheck['max_rel_diff']:.2g} relative (tolerance {ucheck['tol']:g}): "
                 + ("same function." if ucheck["ok"] else "**MISMATCH.**"))
    for cfg, c in flow_checks.items():
        if "error" in c:
            o.append(f"- {cfg} mirror check FAILED to run: {c['error']}")
            continue
        o.append(f"- {cfg} mirror check (bench/flowcheck, `torch_rf.py --config {cfg} --check`): genmod's flow and the "
                 f"PyTorch mirror on the same random weights ({c['params']:,} parameters) and batch of {c['batch']} "
                 f"differ by at most {c['max_abs_diff_logdet']:.1e} in log|det| (values up to {c['max_abs_logdet']:.1f}) "
                 f"and {c['max_abs_diff_logprob']:.1e} in log p(x) (up to {c['max_abs_logprob']:.1f})"
                 + (f", {c['max_abs_diff_w']:.1e} in the assembled 1x1 conv matrices W = P·L·(U + diag(sign·exp(log|s|)))"
                    if "max_abs_diff_w" in c else "")
                 + (": same function." if c["ok"] else ": **MISMATCH: the PyTorch flow is not genmod's.**"))
    for cfg, batch in dict.fromkeys((c, b) for c, _, b, _, _ in CONFIGS if c in FIRST_LOSS):
        fl = {side: [r["first_loss"] for c, b, _, s, r in results if c == cfg and b == batch and s == side
                     and r.get("first_loss") is not None] for side in ("genmod", "PyTorch")}
        o.append(f"- {cfg} loss at step 1, nats per dimension: genmod "
                 + ", ".join(f"{v:.4f}" for v in fl["genmod"]) + "; PyTorch " + ", ".join(f"{v:.4f}" for v in fl["PyTorch"])
                 + " (each side draws its own initial weights and noise: the same bound at the same scale, "
                   "not a weight-level mirror check)")
    for cfg, batch in dict.fromkeys((c, b) for c, _, b, _, _ in CONFIGS if c in GAN_CONFIGS):
        t = next(r for c, b, _, s, r in results if c == cfg and b == batch and s == "PyTorch")
        g = next(r for c, b, _, s, r in results if c == cfg and b == batch and s == "genmod")
        o.append(f"- {cfg} (bench/torch_gan.py): {g['params'] or 0:,} parameters in genmod, {t['params']:,} in PyTorch "
                 f"(generator {t['params_g']:,}, discriminator {t['params_d']:,}); one step = 1 generator update + "
                 f"{t['d_steps']} {'critic' if cfg == 'wgan-gp' else 'discriminator'} update{'s' if t['d_steps'] > 1 else ''}, "
                 f"each on a fresh batch of {batch}. No weight-level check: same layer shapes and counts, PyTorch in NCHW "
                 f"with torch's GroupNorm, nearest-upsample + 3x3 conv at full resolution, class embeddings as lookups; "
                 + ("the discriminator's SpaceToDepth + 3x3 convs as pixel_unshuffle + 3x3 convs."
                    if t["d_conv"] == "s2d" else "the discriminator's SpaceToDepth + 3x3 convs as the equivalent 6x6 "
                    "stride-2 convs."))
    o.append(f"- SGEMM peak, 1024x1024 float32, 2 threads, best of 2x30 (PyTorch) and 2x20 (genmod) products at the start and end of the run: PyTorch torch.mm {t_mm['gflops']:.1f} GFLOP/s, "
             f"genmod's GoMLX backend ({g_mm['backend']}) {g_mm['gflops']:.1f} GFLOP/s"
             + (f"; PyTorch on the stock reference BLAS {ref_mm['gflops']:.1f} GFLOP/s" if ref else ""))
    if results:
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
                   "as four 2x2 convs at low resolution, 4/9 of the nominal work of that layer). For the DiT the two "
                   "batched products of each attention (scores and weighted values) are counted too"
                 + ("; for glow the invertible 1x1 convs (B·H·W·C² per step) and the assembly of their C×C matrices"
                    if any(c == "glow" for c, *_ in CONFIGS) else "") + "."
                 + (" For the GANs a step is counted pass by pass instead, in forward passes of each network (forward, input "
                    "gradient, weight gradient 1 each): every D update runs G forward (1) and D on the reals and on the "
                    "fakes (3 + 3), and for wgan-gp D on the interpolates (6: forward, input gradient, and the backward "
                    "of both through the weights); the G update runs G forward and backward (3) and D forward and input "
                    "gradient (2)." if any(c in GAN_CONFIGS for c, *_ in CONFIGS) else ""))
    if samples:
        def sbest(sampler, k, side):
            rs = [r for s_, k_, _, sd, r in samples if s_ == sampler and k_ == k and sd == side]
            return min(rs, key=lambda r: r["sec"] if side == "PyTorch" else r["wall"])

        # genmod's fixed cost per command: the intercept of wall time against
        # network passes, from the two euler runs.
        (_, k1), (_, k2) = [e for e in SAMPLES if e[0] == "euler"][:2]
        w1, w2 = sbest("euler", k1, "genmod")["wall"], sbest("euler", k2, "genmod")["wall"]
        per_pass = (w2 - w1) / (k2 - k1)
        fixed = w1 - k1 * per_pass
        fixed_used = max(0.0, fixed)
        tp = sbest(*SAMPLES[0], "PyTorch")
        o.append("")
        o.append(f"Sampling throughput: `genmod sample --run RUN --n {SAMPLE_N} --sampler S --steps K --format npy` "
                 f"of an rf U-Net run on fashion-mnist-mini ({sample_params or 0:,} / {tp['params']:,} parameters"
                 f"{'' if sample_params == tp['params'] else ' **MISMATCH**'}), "
                 f"one batch of {min(SAMPLE_N, 500)}, no guidance; PyTorch makes the same network passes under "
                 f"`torch.no_grad()` ({SAMPLE_ROUNDS} round{'s' if SAMPLE_ROUNDS > 1 else ''}, genmod then PyTorch "
                 "for each sampler):")
        o.append("")
        o.append("| sampler | steps | network passes | genmod images/s | PyTorch images/s | genmod/PyTorch "
                 "| genmod GFLOP/s | PyTorch GFLOP/s | genmod images/s, whole command | PyTorch images/s, whole process |")
        o.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for sampler, k in SAMPLES:
            g, t = sbest(sampler, k, "genmod"), sbest(sampler, k, "PyTorch")
            gsec = g["wall"] - fixed_used
            gflop = t["forward_gflop_per_pass"] * t["passes"]
            o.append(f"| {sampler} | {k} | {t['passes']} | {SAMPLE_N / gsec:.1f} | {t['images_per_sec']:.1f} "
                     f"| **{t['sec'] / gsec:.2f}** | {gflop / gsec:.1f} | {gflop / t['sec']:.1f} "
                     f"| {SAMPLE_N / g['wall']:.1f} | {SAMPLE_N / t['wall']:.1f} |")
        o.append("")
        o.append(f"genmod images/s = n / (wall time of the `genmod sample` command − its fixed cost); the fixed cost "
                 f"(process start, loading the run and checkpoint, compiling the network graph, writing the NPY) is "
                 f"the intercept of the wall time against network passes from the euler runs: "
                 f"{w1:.2f} s for {k1} passes, {w2:.2f} s for {k2} → {per_pass:.3f} s per pass, fixed cost "
                 f"{fixed:.2f} s" + (" (negative, noise: taken as 0)" if fixed < 0 else "") + ". "
                 f"PyTorch images/s = n / the sampler loop's time, measured in-process after one untimed pass at the "
                 f"same batch ({tp['sec_per_pass']:.3f} s per pass for {SAMPLES[0][0]} K={SAMPLES[0][1]}). 'whole command/process' = n / the "
                 f"wall time of the process, start-up included (PyTorch: importing torch, reading the data set, "
                 f"building the network, the untimed pass). GFLOP/s = 2 x the multiply-adds of the Linear and Conv2d "
                 f"layers of one forward pass ({tp['forward_gflop_per_pass']:.1f} GFLOP per pass at batch "
                 f"{min(SAMPLE_N, 500)}) x passes / time.")
    o.append("")
    o.append("All runs (steps/s over the measured steps after a 5-step warm-up; 'cores' = CPU time of the "
             "measured process / its wall time, start-up included; 'others' = cores busy with other processes "
             + (f"meanwhile; a run with others > 0.25 was repeated once, in the first {SOFT_LIMIT:.0f} s of the benchmark):"
                if SOFT_LIMIT > 0 else "meanwhile; no repeats in this run):"))
    if results:
        o.append("")
        o.append("| config | batch | round | side | steps | steps/s | cores | others |")
        o.append("|---|---:|---:|---|---:|---:|---:|---:|")
        steps_of = {(c, b): (gs, ts) for c, _, b, gs, ts in CONFIGS}
        for cfg, batch, rnd, side, r in results:
            gs, ts = steps_of[(cfg, batch)]
            o.append(f"| {cfg} | {batch} | {rnd}{' (repeat)' if r['retry'] else ''} | {side} | {gs if side == 'genmod' else ts} "
                     f"| {r['steps_per_sec']:.2f} | {r['cores']:.2f} | {r['others']:.2f} |")
    if samples:
        o.append("")
        o.append("All sampling runs ('wall' = the whole process; 'loop' = PyTorch's timed sampler loop; "
                 "'cores', 'others' as above):")
        o.append("")
        o.append("| sampler | steps | round | side | wall s | loop s | cores | others |")
        o.append("|---|---:|---:|---|---:|---:|---:|---:|")
        for sampler, k, rnd, side, r in samples:
            loop = f"{r['sec']:.2f}" if side == "PyTorch" else ""
            o.append(f"| {sampler} | {k} | {rnd}{' (repeat)' if r['retry'] else ''} | {side} | {r['wall']:.2f} "
                     f"| {loop} | {r['cores']:.2f} | {r['others']:.2f} |")
    if ref:
        o.append("")
        o.append("PyTorch as installed, on Debian's default `libblas3` (the netlib reference BLAS), "
                 "one run each (" + ", ".join(f"{c} {REF_STEPS.get(c, 25)} steps" for c in dict.fromkeys(c for c, *_ in CONFIGS))
                 + "), for context (not in the comparison above):")
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
