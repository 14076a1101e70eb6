"""PyTorch 1.13 mirrors of genmod's normalizing flows for the speed comparison
(imported by bench/torch_rf.py, configs realnvp-mlp and glow).

Both mirror models/flow layer for layer, with the same parameters (counts
and shapes), in the data->noise direction that training uses:

    log p(x) = log N(z; 0, I) + sum_k log|det dz_k/dz_(k-1)|,   z = f^-1(x)
    loss = -mean log p(x)            (vectors: nats per example)
           -mean log p(x) / D        (images: nats per dimension, D = 784)

RealNVP on vectors (`genmod train --model realnvp --data moons`): 6 affine
couplings (flow.AffineCoupling), alternating halves (parity i: the first
floor(D/2) coordinates condition the rest, swapped when i is odd); each
conditioner an MLP D/2 -> 64 -> SiLU -> 64 -> SiLU -> 2*(D - D/2), last layer
N(0, 0.01^2) (weights and biases); s = 2 tanh(raw[:nb]), t = raw[nb:],
z_b = (x_b - t) exp(-s), log-det -sum s. Layers are listed noise->data as
layer_0..5; the density runs layer_5 first.

Glow on 28x28x1 images (`genmod train --model glow`, flow.GlowImage with the
defaults: 2 levels of 4 steps, coupling nets 64 wide): each level squeezes
2x2 (channel order (row, column, channel) as nn.SpaceToDepth), then 4 steps
of ActNorm -> invertible 1x1 conv -> affine coupling; level 0 factors out
channels [C/2, C) to z. Prior N(0, I) on every factored part.
  ActNorm: z = (x + bias) exp(logs) per channel, log-det H*W*sum logs;
    data-dependent init on the first batch: bias = -mean, logs =
    -log(std + 1e-6) (genmod: when its variables are created, on the first
    training batch, before the timed steps).
  InvConv1x1: W = P (I + L*mask_l) (U*mask_u + diag(sign * exp(log_s))),
    assembled from the parameters in every step (P and sign fixed buffers;
    L and U stored as full CxC parameters of which the strict triangles are
    used, as genmod's "lower"/"upper" variables), z = W x per position,
    log-det H*W*sum log_s. Init: a random rotation factored by LU with
    partial pivoting (genmod: luInit, its own random rotation).
  Affine coupling (flow.ConvCoupling, channel mask): parity j alternates
    which half conditions; net = conv3x3(C/2 -> 64) -> ReLU -> conv1x1(64 ->
    64) -> ReLU -> conv3x3(64 -> C) (all with bias; the last zero-initialised),
    s = 2 tanh(raw[:C/2]), t = raw[C/2:], z_b = (x_b - t) exp(-s), log-det
    -sum s.
Data: --dequantize, as the README's glow command: x = 2 (pixel + u)/256 - 1,
u ~ U[0, 1), drawn per batch.

check() loads the weights that bench/flowcheck (genmod) wrote and compares
the log-det and log p of the same batch (and, for glow, the 1x1 convs'
assembled matrices).
"""

import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = ("realnvp-mlp", "glow")
SCALE_BOUND = 2.0  # flow.DefaultScaleBound
LOG2PI = math.log(2 * math.pi)


def std_normal_log_prob(z):
    """log N(z; 0, I) per example, z [B, ...]."""
    z = z.reshape(z.shape[0], -1)
    return -0.5 * (z * z).sum(1) - 0.5 * z.shape[1] * LOG2PI


def halves(x, parity, dim=1):
    """flow.split / splitLast: (conditioning a, transformed b)."""
    k = x.shape[dim] // 2
    lo, hi = x.narrow(dim, 0, k), x.narrow(dim, k, x.shape[dim] - k)
    return (lo, hi) if parity % 2 == 0 else (hi, lo)


def join(a, b, parity, dim=1):
    return torch.cat([a, b] if parity % 2 == 0 else [b, a], dim)


def affine_inverse(x, parity, net, dim=1):
    """z_b = (x_b - t(x_a)) exp(-s(x_a)), s = 2 tanh(raw[:nb]); returns (z, log-det [B])."""
    a, b = halves(x, parity, dim)
    nb = b.shape[dim]
    raw = net(a)
    s = SCALE_BOUND * torch.tanh(raw.narrow(dim, 0, nb))
    t = raw.narrow(dim, nb, nb)
    return join(a, (b - t) * torch.exp(-s), parity, dim), -s.reshape(s.shape[0], -1).sum(1)


# ---------------------------------------------------------------- RealNVP on vectors


class CouplingMLP(nn.Module):
    """flow.conditioner: Dense -> SiLU per hidden width, then Dense with N(0, 0.01^2) init."""

    def __init__(self, din, dout, hidden=(64, 64), out_std=0.01):
        super().__init__()
        dims = (din, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:]))
        self.out = nn.Linear(dims[-1], dout)
        nn.init.normal_(self.out.weight, std=out_std)
        nn.init.normal_(self.out.bias, std=out_std)

    def forward(self, x):
        for layer in self.hidden:
            x = F.silu(layer(x))
        return self.out(x)


class RealNVP(nn.Module):
    """genmod's realnvp on vectors [D]: DefaultCouplings (6) affine couplings, hidden 64,64."""

    def __init__(self, dim, couplings=6, hidden=(64, 64)):
        super().__init__()
        k = dim // 2
        # layers[i] is genmod's layer_i (noise->data order), parity i.
        self.layers = nn.ModuleList(
            CouplingMLP(k if i % 2 == 0 else dim - k, 2 * (dim - k if i % 2 == 0 else k), hidden) for i in range(couplings)
        )
        self.dims = dim

    def log_prob(self, x):
        ld = torch.zeros(x.shape[0])
        for i in range(len(self.layers) - 1, -1, -1):
            x, d = affine_inverse(x, i, self.layers[i])
            ld = ld + d
        return ld, ld + std_normal_log_prob(x)

    def forward(self, x, t=None, y=None):
        return self.log_prob(x)[1]

    def loss(self, x):
        return -self.forward(x).mean()


# ---------------------------------------------------------------- Glow on images


def squeeze(x):
    """nn.SpaceToDepth in NCHW: [B,C,H,W] -> [B,4C,H/2,W/2], channel (row, column, c)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


class ActNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c))
        self.logs = nn.Parameter(torch.zeros(c))
        self.initialized = False

    def forward(self, x):
        if not self.initialized:  # data-dependent init on the first batch
            with torch.no_grad():
                flat = x.transpose(0, 1).reshape(x.shape[1], -1)
                mean = flat.mean(1)
                std = ((flat - mean[:, None]) ** 2).mean(1).sqrt()
                self.bias.copy_(-mean)
                self.logs.copy_(-torch.log(std + 1e-6))
            self.initialized = True
        z = (x + self.bias[None, :, None, None]) * torch.exp(self.logs)[None, :, None, None]
        return z, (x.shape[2] * x.shape[3] * self.logs.sum()).expand(x.shape[0])


class InvConv1x1(nn.Module):
    def __init__(self, c):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(c, c, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)  # q = P L U, partial pivoting
        s = torch.diagonal(upper)
        self.register_buffer("perm", p.float())
        self.register_buffer("sign", torch.sign(s).float())
        self.register_buffer("mask_l", torch.tril(torch.ones(c, c), -1))
        self.register_buffer("mask_u", torch.triu(torch.ones(c, c), 1))
        self.register_buffer("eye", torch.eye(c))
        self.lower = nn.Parameter(torch.tril(lower, -1).float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = nn.Parameter(torch.log(torch.abs(s)).float())

    def matrix(self):
        """W = P (I + L) (U + diag(sign exp(log_s))), as luParts.matrix."""
        u = self.upper * self.mask_u + self.eye * (self.sign * torch.exp(self.log_s))[None, :]
        return self.perm @ ((self.eye + self.lower * self.mask_l) @ u)

    def forward(self, x):
        c = x.shape[1]
        z = F.conv2d(x, self.matrix().view(c, c, 1, 1))
        return z, (x.shape[2] * x.shape[3] * self.log_s.sum()).expand(x.shape[0])


class CouplingNet(nn.Module):
    """ConvCoupling.net: conv3x3 -> ReLU -> conv1x1 -> ReLU -> conv3x3 (zero init)."""

    def __init__(self, cin, cout, hidden=64):
        super().__init__()
        self.conv_0 = nn.Conv2d(cin, hidden, 3, padding=1)
        self.conv_1 = nn.Conv2d(hidden, hidden, 1)
        self.conv_out = nn.Conv2d(hidden, cout, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x):
        return self.conv_out(F.relu(self.conv_1(F.relu(self.conv_0(x)))))


class GlowStep(nn.Module):
    def __init__(self, c, parity, hidden):
        super().__init__()
        self.actnorm = ActNorm(c)
        self.invconv = InvConv1x1(c)
        self.coupling = CouplingNet(c // 2, 2 * (c - c // 2), hidden)
        self.parity = parity

    def forward(self, x):
        x, ld1 = self.actnorm(x)
        x, ld2 = self.invconv(x)
        x, ld3 = affine_inverse(x, self.parity, self.coupling)
        return x, ld1 + ld2 + ld3


class Glow(nn.Module):
    """flow.GlowImage(shape, levels 2, k 4, widths 64): squeeze, K steps, split (not the last level)."""

    def __init__(self, shape, levels=2, steps=4, width=64):
        super().__init__()
        c = shape[0]
        self.levels = nn.ModuleList()
        for i in range(levels):
            c *= 4
            self.levels.append(nn.ModuleList(GlowStep(c, j, width) for j in range(steps)))
            if i < levels - 1:
                c //= 2
        self.shape, self.dims = tuple(shape), shape[0] * shape[1] * shape[2]

    def extra_macs(self, batch):
        """Multiply-adds of the 1x1 convs (F.conv2d, not a module) and of assembling their W."""
        n, (c, h, w) = 0, self.shape
        for steps in self.levels:
            h, w, c = h // 2, w // 2, c * 4
            n += len(steps) * (batch * h * w * c * c + 2 * c**3)
            c //= 2
        return n

    def log_prob(self, x):
        ld = torch.zeros(x.shape[0])
        zs = []
        for i, steps in enumerate(self.levels):
            x = squeeze(x)
            for step in steps:
                x, d = step(x)
                ld = ld + d
            if i < len(self.levels) - 1:
                c = x.shape[1]
                zs.append(x[:, c // 2 :].reshape(x.shape[0], -1))
                x = x[:, : c // 2]
        zs.append(x.reshape(x.shape[0], -1))
        return ld, ld + std_normal_log_prob(torch.cat(zs, 1))

    def forward(self, x, t=None, y=None):
        return self.log_prob(x)[1]

    def prepare(self, pixels):
        """Uniform dequantization and [-1, 1] scaling of 8-bit pixel values (genmod --dequantize)."""
        return (pixels + torch.rand_like(pixels)) / 128.0 - 1.0

    def loss(self, pixels):
        return -self.forward(self.prepare(pixels)).mean() / self.dims


# ---------------------------------------------------------------- check against genmod


def check(config, path):
    """Loads genmod's weights written by bench/flowcheck into the mirror and
    compares log|det| and log p of the same batch."""
    with open(path) as f:
        d = json.load(f)
    v = {e["path"]: torch.tensor(e["data"], dtype=torch.float32).reshape(e["shape"]) for e in d["vars"]}
    shape = d["x_shape"]
    x = torch.tensor(d["x"], dtype=torch.float32).reshape(shape)
    state, w_err = {}, 0.0
    if config == "realnvp-mlp":
        net = RealNVP(shape[1])
        for i, mlp in enumerate(net.layers):
            names = [f"hidden.{j}" for j in range(len(mlp.hidden))] + ["out"]
            for j, name in enumerate(names):
                state[f"layers.{i}.{name}.weight"] = v.pop(f"/flow/layer_{i}/net/layer_{j}/weights").t()
                state[f"layers.{i}.{name}.bias"] = v.pop(f"/flow/layer_{i}/net/layer_{j}/biases")
        net.load_state_dict(state)
    else:
        net = Glow([shape[3], shape[1], shape[2]])
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
        w_init, w_go, off = torch.tensor(d["w_init"]), torch.tensor(d["w"]), 0
        for i, steps in enumerate(net.levels):
            for j, step in enumerate(steps):
                g = f"/flow/level_{i}"
                an, ic, cp = f"{g}/layer_{3 * j + 1}", f"{g}/layer_{3 * j + 2}", f"{g}/layer_{3 * j + 3}"
                t = f"levels.{i}.{j}"
                state[f"{t}.actnorm.bias"], state[f"{t}.actnorm.logs"] = v.pop(f"{an}/bias"), v.pop(f"{an}/logs")
                # P and sign(s) are constants in genmod: recovered from its initial W by the same LU.
                c = step.invconv.log_s.shape[0]
                p, _, u = torch.linalg.lu(w_init[off : off + c * c].reshape(c, c).double())
                off += c * c
                state[f"{t}.invconv.perm"] = p.float()
                state[f"{t}.invconv.sign"] = torch.sign(torch.diagonal(u)).float()
                for name in ("lower", "upper", "log_s"):
                    state[f"{t}.invconv.{name}"] = v.pop(f"{ic}/{name}")
                for name in ("conv_0", "conv_1", "conv_out"):  # genmod [k,k,in,out] -> [out,in,k,k]
                    state[f"{t}.coupling.{name}.weight"] = v.pop(f"{cp}/net/{name}/weights").permute(3, 2, 0, 1)
                    state[f"{t}.coupling.{name}.bias"] = v.pop(f"{cp}/net/{name}/biases")
                for name in ("mask_l", "mask_u", "eye"):
                    state[f"{t}.invconv.{name}"] = getattr(step.invconv, name)
                step.actnorm.initialized = True
        net.load_state_dict(state)  # strict: every parameter and buffer is set
        off = 0
        for steps in net.levels:  # the assembled W of every 1x1 conv against genmod's
            for step in steps:
                c = step.invconv.log_s.shape[0]
                w = step.invconv.matrix().detach()
                w_err = max(w_err, (w - w_go[off : off + c * c].reshape(c, c)).abs().max().item())
                off += c * c
    if v:
        raise SystemExit(f"genmod variables without a PyTorch counterpart: {sorted(v)}")
    with torch.no_grad():
        ld, lp = net.log_prob(x)
    want_ld, want_lp = torch.tensor(d["logdet"]), torch.tensor(d["logprob"])
    ld_err, lp_err = (ld - want_ld).abs().max().item(), (lp - want_lp).abs().max().item()
    scale = max(1.0, want_lp.abs().max().item())
    r = {"check": config, "params": sum(p.numel() for p in net.parameters()),
         "max_abs_diff_logdet": ld_err, "max_abs_diff_logprob": lp_err, "max_abs_logprob": want_lp.abs().max().item(),
         "max_abs_logdet": want_ld.abs().max().item(), "batch": shape[0]}
    ok = ld_err <= 1e-4 * max(1.0, want_ld.abs().max().item()) and lp_err <= 1e-5 * scale
    if config == "glow":
        r["max_abs_diff_w"] = w_err
        ok = ok and w_err <= 1e-5
    r["ok"] = ok
    return r
