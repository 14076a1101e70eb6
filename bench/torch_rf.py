#!/usr/bin/python3
"""PyTorch 1.13 peer of `genmod train --model rf` for the speed comparison.

The networks mirror genmod's nn.VelocityMLP (DefaultMLPNetConfig), nn.UNet
(DefaultUNetConfig(10)) and nn.DiT (DefaultDiTConfig(10), `--model dit`)
layer for layer and have the same parameter counts; the training step is
genmod's (train/trainer.go, models/diffusion/model.go with the rf/dit presets):

    z ~ N(0, I), t ~ U[0, 1], x_t = (1 - t) x + t z, v = z - x
    labels -> null class with probability 0.1
    loss = mean((f(x_t, y, t) - v)^2)
    global-norm gradient clipping at 1.0, Adam (0.9, 0.999, eps 1e-7, as
    GoMLX's default), learning rate set from the step (linear warm-up 100,
    then cosine), EMA of every weight with decay min(0.999, (1+s)/(10+s)),
    loss and gradient norm read back and one JSON line appended per step.

Steps/s is measured as genmod's metrics.jsonl allows on the Go side: the time
from the end of the warm-up step to the end of the last step.

With --sampler it times sampling instead (see sample()): the same number of
network passes as `genmod sample --sampler S --steps K --n N` at the same
batch, under torch.no_grad().

    /usr/bin/python3 bench/torch_rf.py --config rf-unet --batch 64 --steps 45 --warmup 5
    /usr/bin/python3 bench/torch_rf.py --config rf-mlp-fm --hidden 1024,1024,1024 --batch 128
                     # = genmod train --data fashion-mnist-mini --net mlp --hidden 1024,1024,1024
    /usr/bin/python3 bench/torch_rf.py --config dit --batch 64   # = genmod train --model dit
    /usr/bin/python3 bench/torch_rf.py --config rf-unet --sampler heun --sample-steps 25 --n 500
                     # = genmod sample --sampler heun --steps 25 --n 500 of an rf U-Net run
    /usr/bin/python3 bench/torch_rf.py --config sgemm      # 1024^3 SGEMM, GFLOP/s
    /usr/bin/python3 bench/torch_rf.py --config realnvp-mlp --batch 256  # = genmod train --model realnvp --data moons
    /usr/bin/python3 bench/torch_rf.py --config glow --batch 32
                     # = genmod train --model glow --data fashion-mnist-mini --dequantize
                     # (the flows' networks and loss are in bench/torch_flows.py)
    /usr/bin/python3 bench/torch_rf.py --config vae-mlp --batch 100
                     # = genmod train --model vae --data fashion-mnist-mini --binarize dynamic
                     # (iwae-mlp: --model iwae, K = 5; the VAE is in bench/torch_vae.py)

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

import torch_flows
import torch_vae

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


def fashion_mnist_mini(raw=False):
    """genmod's embedded Fashion-MNIST subset, pixels scaled to [-1, 1] (NCHW);
    raw: the 8-bit values 0..255 (as float32), for dequantization per batch."""
    x = read_idx_gz(os.path.join(EMBEDDED, "train-images-idx3-ubyte.gz"))
    y = read_idx_gz(os.path.join(EMBEDDED, "train-labels-idx1-ubyte.gz"))
    x = x.astype(np.float32)
    x = torch.from_numpy(x if raw else x / 255.0 * 2.0 - 1.0).unsqueeze(1)
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


def gelu_tanh(x):
    """GELU, tanh approximation (genmod's geluTanh computes the same function as x·σ(2u))."""
    return F.gelu(x, approximate="tanh")


def pos_embedding_2d(gh, gw, dim):
    """nn's posEmbedding2D: fixed 2-D sin-cos table [gh·gw, dim], tokens row-major,
    per token [sin(j ω), cos(j ω), sin(i ω), cos(i ω)], ω_k = 10000^(-k/(dim/4))."""
    q = dim // 4
    omega = torch.pow(10000.0, -torch.arange(q, dtype=torch.float64) / q)
    i, j = torch.meshgrid(torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64), indexing="ij")
    i, j = i.reshape(-1, 1) * omega, j.reshape(-1, 1) * omega
    return torch.cat([torch.sin(j), torch.cos(j), torch.sin(i), torch.cos(i)], dim=1).float()


def zero_linear(din, dout):
    lin = nn.Linear(din, dout)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


class Attention(nn.Module):
    """Multi-head self-attention as DiT's reference code (timm) writes it: one
    fused qkv Linear (3·D² + 3·D parameters = genmod's query, key and value
    Dense layers), two batched products, softmax, output Linear."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, N, dh]
        w = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((w @ v).transpose(1, 2).reshape(b, n, d))


class DiTBlock(nn.Module):
    """nn's ditBlock, adaLN-Zero: shift1, scale1, gate1, shift2, scale2, gate2 =
    Linear(SiLU(c)) (zero init); x += gate1·Attn(LN(x)(1+scale1)+shift1);
    x += gate2·MLP(LN(x)(1+scale2)+shift2), LN without affine (eps 1e-5), GELU tanh."""

    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.modulation = zero_linear(dim, 6 * dim)
        self.attention = Attention(dim, heads)
        self.mlp_1 = nn.Linear(dim, mlp_ratio * dim)
        self.mlp_2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x, c):
        d = x.shape[-1]
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).unsqueeze(1).chunk(6, dim=-1)
        h = F.layer_norm(x, (d,), eps=1e-5) * (1 + scale1) + shift1
        x = x + gate1 * self.attention(h)
        h = F.layer_norm(x, (d,), eps=1e-5) * (1 + scale2) + shift2
        return x + gate2 * self.mlp_2(gelu_tanh(self.mlp_1(h)))


class DiT(nn.Module):
    """nn.DiT with DefaultDiTConfig(10): patch 4 (7x7 = 49 tokens of 16 pixels),
    width 128, depth 4, 4 heads, MLP ratio 2, time dim 64; conditioning
    c = time_2(SiLU(time_1(TimeEmbedding(t)))) + class embedding (11 rows, the
    last the null class), SiLU(c) into every adaLN; fixed 2-D sin-cos positions;
    final adaLN (zero init) and zero-initialised Linear to p·p·C per token."""

    def __init__(self, in_ch, hw, num_classes, patch=4, width=128, depth=4, heads=4, mlp_ratio=2, time_dim=64):
        super().__init__()
        self.patch, self.width, self.time_dim, self.in_ch = patch, width, time_dim, in_ch
        self.gh, self.gw = hw[0] // patch, hw[1] // patch
        self.time_1 = nn.Linear(time_dim, width)
        self.time_2 = nn.Linear(width, width)
        self.cls = nn.Embedding(num_classes + 1, width) if num_classes > 0 else None  # N(0, 1) init as genmod
        self.patch_embed = nn.Linear(patch * patch * in_ch, width)
        self.register_buffer("pos", pos_embedding_2d(self.gh, self.gw, width))
        self.blocks = nn.ModuleList(DiTBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.final_modulation = zero_linear(width, 2 * width)
        self.output = zero_linear(width, patch * patch * in_ch)

    def extra_macs(self, batch):
        """Multiply-adds of the attention's two batched products (not Linear layers)."""
        n = self.gh * self.gw
        return len(self.blocks) * 2 * batch * n * n * self.width

    def forward(self, x, t, y):
        b, c, p = x.shape[0], self.in_ch, self.patch
        e = self.time_2(F.silu(self.time_1(time_embedding(t, self.time_dim))))
        if self.cls is not None:
            e = e + self.cls(y)
        e = F.silu(e)
        # patchify (nn.patchify): [B,C,H,W] -> [B, gh·gw, p·p·C], each patch as (row, column, channel).
        tok = x.reshape(b, c, self.gh, p, self.gw, p).permute(0, 2, 4, 3, 5, 1).reshape(b, self.gh * self.gw, p * p * c)
        h = self.patch_embed(tok) + self.pos
        for blk in self.blocks:
            h = blk(h, e)
        shift, scale = self.final_modulation(e).unsqueeze(1).chunk(2, dim=-1)
        h = self.output(F.layer_norm(h, (self.width,), eps=1e-5) * (1 + scale) + shift)
        # unpatchify: [B, gh·gw, p·p·C] -> [B,C,H,W].
        h = h.reshape(b, self.gh, self.gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return h.reshape(b, c, self.gh * p, self.gw * p)


# ---------------------------------------------------------------- FLOPs


def count_forward_macs(net, args):
    """Multiply-accumulates of the Linear/Conv2d layers in one forward pass, plus
    the attention's batched products for the DiT (the class Embedding is a
    lookup here, a one-hot matmul in genmod: not counted)."""
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
    if hasattr(net, "extra_macs"):
        macs[0] += net.extra_macs(args[0].shape[0])
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


def build(args):
    """The data set and the network of a config: (x, y, number of classes, net)."""
    if args.config == "rf-mlp":
        x_all, y_all, num_classes = moons()
        net = VelocityMLP(x_all.shape[1], num_classes, hidden=args.hidden)
    elif args.config == "rf-mlp-fm":  # `genmod train --net mlp` on flattened Fashion-MNIST
        x_all, y_all, num_classes = fashion_mnist_mini()
        x_all = x_all.reshape(x_all.shape[0], -1).contiguous()
        net = VelocityMLP(x_all.shape[1], num_classes, hidden=args.hidden)
    elif args.config == "realnvp-mlp":  # `genmod train --model realnvp --data moons`
        x_all, y_all, num_classes = moons()
        net = torch_flows.RealNVP(x_all.shape[1])
    elif args.config == "glow":  # `genmod train --model glow --data fashion-mnist-mini --dequantize`
        x_all, y_all, num_classes = fashion_mnist_mini(raw=True)
        net = torch_flows.Glow(x_all.shape[1:])
    elif args.config in torch_vae.CONFIGS:  # `genmod train --model vae|iwae --data fashion-mnist-mini --binarize dynamic`
        x_all, y_all, num_classes = fashion_mnist_mini(raw=True)
        x_all = (x_all.reshape(x_all.shape[0], -1) / 255.0).contiguous()  # [0, 1], binarized per batch
        net = torch_vae.VAE(x_all.shape[1], k=torch_vae.CONFIGS[args.config])
    elif args.config == "dit":  # `genmod train --model dit`
        x_all, y_all, num_classes = fashion_mnist_mini()
        net = DiT(x_all.shape[1], x_all.shape[2:], num_classes)
    else:  # rf-unet
        x_all, y_all, num_classes = fashion_mnist_mini()
        net = UNet(x_all.shape[1], num_classes)
        if args.channels_last:
            net = net.to(memory_format=torch.channels_last)
            x_all = x_all.contiguous(memory_format=torch.channels_last)
    return x_all, y_all, num_classes, net


def train(args):
    torch.manual_seed(1)
    x_all, y_all, num_classes, net = build(args)
    params = [p for p in net.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    batcher = Batcher(x_all, y_all, args.batch)

    xb, yb = batcher.next()
    batcher = Batcher(x_all, y_all, args.batch)  # rewind, as genmod does after building the model
    if hasattr(net, "prepare"):  # glow: dequantize (its first pass initializes the ActNorms from this batch); vae: binarize
        xb = net.prepare(xb)
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
    times, first_loss = {}, None
    t_start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = batcher.next()
        b = x.shape[0]
        if args.config in LIKELIHOOD_CONFIGS:  # flows: -log p(x); VAEs: -ELBO or -IWAE_K (per dimension for images)
            loss = net.loss(x)
        else:
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
        if step == 1:
            first_loss = lv
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
        "first_loss": first_loss,
        "train_gflop_per_step": train_flops / 1e9,
        "gflops": rate * train_flops / 1e9,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "blas": blas_library(),
        "foreach": args.foreach,
        "channels_last": args.channels_last,
    }


def sample(args):
    """`genmod sample --n N --sampler S --steps K` of a rectified-flow model,
    mirrored: x_1 ~ N(0, I), then K steps from t = 1 to 0 on the uniform grid,
    in batches of at most 500 (diffusion.maxBatch), labels as genmod's
    default class grid (one row of N/10 per class), no guidance, under
    torch.no_grad(). The network outputs the velocity v = dx/dt directly.
    euler and ddim (η = 0, via x̂ = x − t·v, ẑ = x + (1−t)·v and
    x_s = (1−s)·x̂ + s·ẑ) take one network pass per step, heun two.
    One untimed pass at the batch size first (oneDNN builds its kernels);
    then the whole sampler is timed."""
    torch.manual_seed(1)
    x_all, _, num_classes, net = build(args)
    net.eval()
    n_params = sum(p.numel() for p in net.parameters())
    shape = tuple(x_all.shape[1:])
    k, n = args.sample_steps, args.n
    per = (n + num_classes - 1) // num_classes
    labels = torch.arange(n) // per
    ts = [1 - i / k for i in range(k)] + [0.0]  # solver.UniformGrid(1, 0, K)
    passes = [0]

    def f(x, t, y):
        passes[0] += 1
        return net(x, torch.full((x.shape[0],), t), y)

    def run(x, y):
        for i in range(k):
            t, s = ts[i], ts[i + 1]
            v = f(x, t, y)
            if args.sampler == "euler":
                x = x + (s - t) * v
            elif args.sampler == "heun":
                v2 = f(x + (s - t) * v, s, y)
                x = x + (s - t) / 2 * (v + v2)
            else:  # ddim, eta 0
                xhat, zhat = x - t * v, x + (1 - t) * v
                x = (1 - s) * xhat + s * zhat
        return x

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, sampling {args.config}: {n} samples, "
          f"sampler {args.sampler}, {k} steps, {n_params} parameters, BLAS {blas_library()}", file=sys.stderr)
    gen = torch.Generator().manual_seed(1)
    mb = min(n, MAX_SAMPLE_BATCH)
    with torch.no_grad():
        # Counted at batch 1 (every counted layer is linear in the batch), so
        # the process does no extra full-size pass.
        fwd_macs = mb * count_forward_macs(net, (torch.randn(1, *shape), torch.rand(1), labels[:1]))
        f(torch.randn(mb, *shape, generator=gen), 1.0, labels[:mb])  # warm-up, untimed
        passes[0] = 0
        t0 = time.perf_counter()
        out = []
        for lo in range(0, n, MAX_SAMPLE_BATCH):
            hi = min(lo + MAX_SAMPLE_BATCH, n)
            out.append(run(torch.randn(hi - lo, *shape, generator=gen), labels[lo:hi]))
        x = torch.cat(out)
        sec = time.perf_counter() - t0
    if not torch.isfinite(x).all():
        sys.exit("sampling produced non-finite values")
    return {
        "config": args.config,
        "sampler": args.sampler,
        "sample_steps": k,
        "n": n,
        "params": n_params,
        "passes": passes[0],
        "sec": sec,
        "images_per_sec": n / sec,
        "sec_per_pass": sec / passes[0],
        "forward_gflop_per_pass": 2 * fwd_macs / 1e9,  # at batch min(n, 500)
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "blas": blas_library(),
    }


MAX_SAMPLE_BATCH = 500  # diffusion.maxBatch
LIKELIHOOD_CONFIGS = (*torch_flows.CONFIGS, *torch_vae.CONFIGS)  # trained on net.loss(x), no rf step


def check_dit(path):
    """Loads the weights that bench/ditcheck (genmod's nn.DiT) wrote to path into
    this file's DiT, runs the same inputs and compares the outputs."""
    with open(path) as f:
        d = json.load(f)
    v = {e["path"]: torch.tensor(e["data"], dtype=torch.float32).reshape(e["shape"]) for e in d["vars"]}
    cfg = d["config"]
    b, h, w, c = d["x_shape"]
    net = DiT(c, (h, w), cfg["NumClasses"], patch=cfg["Patch"], width=cfg["Width"], depth=cfg["Depth"],
              heads=cfg["Heads"], mlp_ratio=cfg["MLPRatio"], time_dim=cfg["TimeDim"])
    state = {}

    def dense(torch_name, go_name):  # genmod's Dense weights are [in, out]
        state[torch_name + ".weight"] = v.pop(f"/{go_name}/weights").t()
        state[torch_name + ".bias"] = v.pop(f"/{go_name}/biases")

    for name in ("time_1", "time_2", "patch_embed"):
        dense(name, name)
    if net.cls is not None:
        state["cls.weight"] = v.pop("/class/embeddings")
    for i in range(cfg["Depth"]):
        g, t = f"block_{i}", f"blocks.{i}"
        for name in ("modulation", "mlp_1", "mlp_2"):
            dense(f"{t}.{name}", f"{g}/{name}")
        dense(f"{t}.attention.proj", f"{g}/attention/output")
        qkv = [f"{g}/attention/{n}" for n in ("query", "key", "value")]
        state[f"{t}.attention.qkv.weight"] = torch.cat([v.pop(f"/{n}/weights").t() for n in qkv])
        state[f"{t}.attention.qkv.bias"] = torch.cat([v.pop(f"/{n}/biases") for n in qkv])
    dense("final_modulation", "final/modulation")
    dense("output", "final/output")
    if v:
        sys.exit(f"genmod variables without a PyTorch counterpart: {sorted(v)}")
    state["pos"] = net.pos
    net.load_state_dict(state)  # strict: every PyTorch parameter is set
    x = torch.tensor(d["x"]).reshape(b, h, w, c).permute(0, 3, 1, 2)  # NHWC -> NCHW
    with torch.no_grad():
        out = net(x, torch.tensor(d["t"]), torch.tensor(d["labels"], dtype=torch.int64))
    want = torch.tensor(d["out"]).reshape(b, h, w, c).permute(0, 3, 1, 2)
    err = (out - want).abs().max().item()
    return {"check": "dit", "max_abs_diff": err, "max_abs_out": want.abs().max().item(),
            "params": sum(p.numel() for p in net.parameters()), "ok": err <= 1e-4 * max(1.0, want.abs().max().item())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, choices=["rf-mlp", "rf-mlp-fm", "rf-unet", "dit", *torch_flows.CONFIGS, *torch_vae.CONFIGS, "sgemm"])
    ap.add_argument("--sampler", choices=["euler", "heun", "ddim"],
                    help="time sampling instead of training: genmod sample --sampler S (rf-unet or dit)")
    ap.add_argument("--sample-steps", type=int, default=50, help="sampler steps K (genmod sample --steps)")
    ap.add_argument("--n", type=int, default=500, help="samples to draw (genmod sample --n)")
    ap.add_argument("--check", metavar="FILE", help="dit: compare with genmod's nn.DiT output written by bench/ditcheck; "
                    "realnvp-mlp, glow: with genmod's log p written by bench/flowcheck")
    ap.add_argument("--batch", type=int, default=0, help="default: 256 (rf-mlp, realnvp-mlp), 100 (vae-mlp, iwae-mlp), 64 (the others)")
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
    if args.check:
        if args.config in torch_flows.CONFIGS:
            r = torch_flows.check(args.config, args.check)
            print(json.dumps(r))
            if not r["ok"]:
                sys.exit(f"PyTorch {args.config} differs from genmod's: {r}")
            return
        if args.config != "dit":
            sys.exit("--check applies to --config dit, realnvp-mlp or glow")
        r = check_dit(args.check)
        print(json.dumps(r))
        if not r["ok"]:
            sys.exit(f"PyTorch DiT differs from genmod's: max |diff| {r['max_abs_diff']:.3g}")
        return
    if args.sampler:
        if args.config not in ("rf-unet", "dit") or args.sample_steps < 1 or args.n < 1:
            sys.exit("sampling needs --config rf-unet or dit, --sample-steps >= 1 and --n >= 1")
        print(json.dumps(sample(args)))
        return
    if args.batch == 0:
        args.batch = 256 if args.config in ("rf-mlp", "realnvp-mlp") else 100 if args.config in torch_vae.CONFIGS else 64
    if not 0 < args.warmup < args.steps:
        sys.exit("need 0 < --warmup < --steps")
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()
