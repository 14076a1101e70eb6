#!/usr/bin/python3
"""PyTorch 1.13 peer of `genmod train --model rf` for the speed comparison.

The networks mirror genmod's nn.VelocityMLP (DefaultMLPNetConfig) and nn.UNet
(DefaultUNetConfig(10)) layer for layer and have the same parameter counts;
the training step is genmod's (train/trainer.go, models/rf/rf.go):

    z ~ N(0, I), t ~ U[0, 1], x_t = (1 - t) x + t z, v = z - x
    labels -> null class with probability 0.1
    loss = mean((f(x_t, y, t) - v)^2)
    global-norm gradient clipping at 1.0, Adam (0.9, 0.999, eps 1e-7, as
    GoMLX's default), learning rate set from the step (linear warm-up 100,
    then cosine), EMA of every weight with decay min(0.999, (1+s)/(10+s)),
    loss and gradient norm read back and one JSON line appended per step.

Steps/s is measured as genmod's metrics.jsonl allows on the Go side: the time
from the end of the warm-up step to the end of the last step.

    /usr/bin/python3 bench/torch_rf.py --config rf-unet --batch 64 --steps 45 --warmup 5
    /usr/bin/python3 bench/torch_rf.py --config rf-mlp-fm --hidden 1024,1024,1024 --batch 128
                     # = genmod train --data fashion-mnist-mini --net mlp --hidden 1024,1024,1024
    /usr/bin/python3 bench/torch_rf.py --config sgemm      # 1024^3 SGEMM, GFLOP/s

The last line of output is one JSON object with the results.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
EMBEDDED = os.path.join(HERE, "..", "data", "embedded")

# ---------------------------------------------------------------- data


def read_idx_gz(path):
    """Reads a gzipped IDX file (MNIST format) into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist_mini():
    """genmod's embedded Fashion-MNIST subset, pixels scaled to [-1, 1] (NCHW)."""
    x = read_idx_gz(os.path.join(EMBEDDED, "train-images-idx3-ubyte.gz"))
    y = read_idx_gz(os.path.join(EMBEDDED, "train-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0 * 2.0 - 1.0).unsqueeze(1)
    return x.contiguous(), torch.from_numpy(y.astype(np.int64)), 10


def moons(n=20000, seed=1):
    """sklearn-style make_moons(noise 0.1), then 2x + (-1, -0.2), as genmod's moons."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, math.pi, n_out)
    t_in = np.linspace(0, math.pi, n_in)
    x = np.concatenate(
        [np.stack([np.cos(t_out), np.sin(t_out)], 1), np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)]
    )
    x = x + 0.1 * rng.standard_normal(x.shape)
    x = x * 2 - np.array([1.0, 0.2])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)), 2


class Batcher:
    """Shuffled epochs, last partial batch dropped (genmod's data.Batcher)."""

    def __init__(self, x, y, batch, seed=1):
        self.x, self.y, self.batch = x, y, batch
        self.gen = torch.Generator().manual_seed(seed)
        self.perm, self.pos = None, 0

    def next(self):
        n = self.x.shape[0]
        if self.perm is None or self.pos + self.batch > n:
            self.perm, self.pos = torch.randperm(n, generator=self.gen), 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return self.x[idx], self.y[idx]


# ---------------------------------------------------------------- networks

TIME_SCALE = 1000.0  # nn.TimeScale


def time_embedding(t, dim):
    """nn.TimeEmbedding: [sin(1000 t f_i), cos(1000 t f_i)], f_i = 10000^(-i/half)."""
    half = dim // 2
    f = TIME_SCALE * torch.exp(-math.log(10000.0) * torch.arange(half, dtype=t.dtype) / half)
    a = t[:, None] * f[None, :]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


def divisor_at_most(n, k):
    for d in range(min(n, k), 1, -1):
        if n % d == 0:
            return d
    return 1


class Conditioning(nn.Module):
    """nn's conditioning(): act(Dense(act(Dense(temb))) + class embedding)."""

    def __init__(self, dim, num_classes, act):
        super().__init__()
        self.dim, self.act = dim, act
        self.time_1 = nn.Linear(dim, dim)
        self.time_2 = nn.Linear(dim, dim)
        # genmod: a one-hot matmul with a [numClasses+1, dim] table (same parameters).
        self.cls = nn.Embedding(num_classes + 1, dim) if num_classes > 0 else None

    def forward(self, t, y):
        e = self.time_2(self.act(self.time_1(time_embedding(t, self.dim))))
        if self.cls is not None:
            e = e + self.cls(y)
        return self.act(e)


class VelocityMLP(nn.Module):
    """nn.VelocityMLP with DefaultMLPNetConfig: hidden 256x3, SiLU, TimeDim 64."""

    def __init__(self, dim, num_classes, hidden=(256, 256, 256), time_dim=64):
        super().__init__()
        self.cond = Conditioning(time_dim, num_classes, F.silu)
        self.layers = nn.ModuleList()
        self.embs = nn.ModuleList()
        d = dim
        for n in hidden:
            self.layers.append(nn.Linear(d, n))
            self.embs.append(nn.Linear(time_dim, n))
            d = n
        self.out = nn.Linear(d, dim)

    def forward(self, x, t, y):
        emb = self.cond(t, y)
        h = x
        for layer, e in zip(self.layers, self.embs):
            h = F.silu(layer(h) + e(emb))
        return self.out(h)


class ResBlock(nn.Module):
    """nn's resBlock: GN-act-conv3x3 (no bias) + Dense(emb) per channel,
    GN-act-conv3x3 (no bias), + residual (1x1 conv, no bias, when channels change)."""

    def __init__(self, cin, cout, emb_dim, groups, act):
        super().__init__()
        self.act = act
        self.norm_1 = nn.GroupNorm(divisor_at_most(cin, groups), cin, eps=1e-5)
        self.conv_1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.embedding = nn.Linear(emb_dim, cout)
        self.norm_2 = nn.GroupNorm(divisor_at_most(cout, groups), cout, eps=1e-5)
        self.conv_2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv_1(self.act(self.norm_1(x)))
        h = h + self.embedding(emb)[:, :, None, None]
        h = self.conv_2(self.act(self.norm_2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class Upsample(nn.Module):
    """nn.Upsample: nearest 2x, then a 3x3 conv with bias. (genmod computes the
    same function at low resolution, as four 2x2 phase convolutions.)"""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """nn.UNet with DefaultUNetConfig(10): channels 16/32/64, one ResBlock per
    level, GroupNorm 8 groups, TimeDim 64, ReLU, no attention. Downsample is a
    2x2 stride-2 conv with bias (genmod: space-to-depth + 1x1 conv)."""

    def __init__(self, in_ch, num_classes, channels=(16, 32, 64), blocks=1, groups=8, time_dim=64, act=F.relu):
        super().__init__()
        self.act, self.groups = act, groups
        self.cond = Conditioning(time_dim, num_classes, act)
        self.input = nn.Conv2d(in_ch, channels[0], 3, padding=1)
        self.down_res = nn.ModuleList()
        self.downs = nn.ModuleList()
        ch = channels[0]
        skip_ch = []
        for level, c in enumerate(channels):
            for _ in range(blocks):
                self.down_res.append(ResBlock(ch, c, time_dim, groups, act))
                ch = c
                skip_ch.append(ch)
            if level < len(channels) - 1:
                self.downs.append(nn.Conv2d(ch, c, 2, stride=2))
        self.mid_1 = ResBlock(ch, ch, time_dim, groups, act)
        self.mid_2 = ResBlock(ch, ch, time_dim, groups, act)
        self.up_res = nn.ModuleList()
        self.ups = nn.ModuleList()
        for level in range(len(channels) - 1, -1, -1):
            c = channels[level]
            for _ in range(blocks):
                self.up_res.append(ResBlock(ch + skip_ch.pop(), c, time_dim, groups, act))
                ch = c
            if level > 0:
                self.ups.append(Upsample(ch, channels[level - 1]))
                ch = channels[level - 1]
        self.output_norm = nn.GroupNorm(divisor_at_most(channels[0], groups), channels[0], eps=1e-5)
        self.output = nn.Conv2d(channels[0], in_ch, 3, padding=1)
        nn.init.zeros_(self.output.weight)  # untrained network outputs 0
        nn.init.zeros_(self.output.bias)
        self.channels, self.blocks = channels, blocks

    def forward(self, x, t, y):
        emb = self.cond(t, y)
        h = self.input(x)
        skips = []
        r = iter(self.down_res)
        d = iter(self.downs)
        for level in range(len(self.channels)):
            for _ in range(self.blocks):
                h = next(r)(h, emb)
                skips.append(h)
            if level < len(self.channels) - 1:
                h = next(d)(h)
        h = self.mid_2(self.mid_1(h, emb), emb)
        r = iter(self.up_res)
        u = iter(self.ups)
        for level in range(len(self.channels) - 1, -1, -1):
            for _ in range(self.blocks):
                h = next(r)(torch.cat([h, skips.pop()], dim=1), emb)
            if level > 0:
                h = next(u)(h)
        return self.output(self.act(self.output_norm(h)))


# ---------------------------------------------------------------- FLOPs


def count_forward_macs(net, args):
    """Multiply-accumulates of the Linear/Conv2d layers in one forward pass
    (the class Embedding is a lookup here, a one-hot matmul in genmod: not counted)."""
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            macs[0] += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, nn.Linear):
            macs[0] += out.numel() * mod.in_features

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net(*args)
    for h in hs:
        h.remove()
    return macs[0]


# ---------------------------------------------------------------- training


def lr_at(step, base=1e-3, warmup=100, total=100000):
    """genmod's train schedule: linear warm-up, then cosine to 5% of the peak."""
    if warmup > 0 and step <= warmup:
        return base * step / warmup
    p = (step - warmup) / (total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def blas_library():
    """Which libblas this process loaded (Debian's torch links the system libblas.so.3)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line and "/" in line}
        return ", ".join(sorted(libs)) or "none"
    except OSError:
        return "unknown"


def sgemm(n=1024, reps=10):
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def train(args):
    torch.manual_seed(1)
    if args.config == "rf-mlp":
        x_all, y_all, num_classes = moons()
        net = VelocityMLP(x_all.shape[1], num_classes, hidden=args.hidden)
    elif args.config == "rf-mlp-fm":  # `genmod train --net mlp` on flattened Fashion-MNIST
        x_all, y_all, num_classes = fashion_mnist_mini()
        x_all = x_all.reshape(x_all.shape[0], -1).contiguous()
        net = VelocityMLP(x_all.shape[1], num_classes, hidden=args.hidden)
    else:
        x_all, y_all, num_classes = fashion_mnist_mini()
        net = UNet(x_all.shape[1], num_classes)
        if args.channels_last:
            net = net.to(memory_format=torch.channels_last)
            x_all = x_all.contiguous(memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    batcher = Batcher(x_all, y_all, args.batch)

    xb, yb = batcher.next()
    batcher = Batcher(x_all, y_all, args.batch)  # rewind, as genmod does after building the model
    fwd_macs = count_forward_macs(net, (xb, torch.rand(args.batch), yb))

    foreach = {"auto": None, "on": True, "off": False}[args.foreach]
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7, foreach=foreach)
    ema = [p.detach().clone() for p in params]
    null = num_classes  # nn.NullClass
    metrics = tempfile.NamedTemporaryFile("w", prefix="torch_rf_", suffix=".jsonl", delete=False)
    metrics.close()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, config {args.config}, batch {args.batch}, "
        f"{n_params} parameters, BLAS {blas_library()}",
        file=sys.stderr,
    )
    times = {}
    t_start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = batcher.next()
        b = x.shape[0]
        # Rectified flow (models/rf): x_t = (1-t)x + tz, v = z - x.
        z = torch.randn_like(x)
        t = torch.rand(b)
        tb = t.view(b, *([1] * (x.dim() - 1)))
        xt = (1 - tb) * x + tb * z
        v = z - x
        y = torch.where(torch.rand(b) < 0.1, torch.full_like(y, null), y)
        loss = ((net(xt, t, y) - v) ** 2).mean()

        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)  # scale = min(1, 1/(norm+1e-6))
        lr = lr_at(step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, params, alpha=1 - decay)
        lv, gv = loss.item(), gnorm.item()
        if not (math.isfinite(lv) and math.isfinite(gv)):
            sys.exit(f"loss became {lv} at step {step}")
        el = time.perf_counter() - t_start
        with open(metrics.name, "a") as f:
            f.write(json.dumps({"step": step, "loss": lv, "lr": lr, "grad_norm": gv, "elapsed_sec": el}) + "\n")
        times[step] = el
    os.unlink(metrics.name)

    measured = args.steps - args.warmup
    rate = measured / (times[args.steps] - times[args.warmup])
    train_flops = 3 * 2 * fwd_macs  # forward + backward (dx and dW) of the Linear/Conv2d layers
    return {
        "config": args.config,
        "batch": args.batch,
        "params": n_params,
        "steps": args.steps,
        "warmup": args.warmup,
        "steps_per_sec": rate,
        "train_gflop_per_step": train_flops / 1e9,
        "gflops": rate * train_flops / 1e9,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "blas": blas_library(),
        "foreach": args.foreach,
        "channels_last": args.channels_last,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, choices=["rf-mlp", "rf-mlp-fm", "rf-unet", "sgemm"])
    ap.add_argument("--batch", type=int, default=0, help="default: 256 (rf-mlp), 64 (rf-unet)")
    ap.add_argument("--steps", type=int, default=45, help="total steps, warm-up included")
    ap.add_argument("--warmup", type=int, default=5, help="steps before the clock starts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", default="256,256,256", help="MLP hidden widths (genmod's --hidden)")
    ap.add_argument("--reps", type=int, default=10, help="sgemm: timed repetitions (the best is reported)")
    ap.add_argument("--channels-last", action="store_true", help="U-Net in channels_last memory format")
    ap.add_argument("--foreach", choices=["auto", "on", "off"], default="auto", help="Adam's foreach implementation")
    args = ap.parse_args()
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    torch.set_num_threads(args.threads)
    if args.config == "sgemm":
        g = sgemm(reps=args.reps)
        print(json.dumps({"config": "sgemm", "n": 1024, "gflops": g, "threads": torch.get_num_threads(), "blas": blas_library()}))
        return
    if args.batch == 0:
        args.batch = 256 if args.config == "rf-mlp" else 64
    if not 0 < args.warmup < args.steps:
        sys.exit("need 0 < --warmup < --steps")
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()
