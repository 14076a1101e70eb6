#!/usr/bin/python3
"""PyTorch 1.13 mirror of genmod's conv GANs (models/gan) for the speed
comparison (bench/compare.py, rows dcgan and wgan-gp).

    dcgan:   genmod train --model dcgan   --data fashion-mnist-mini --batch 64
    wgan-gp: genmod train --model wgan-gp --data fashion-mnist-mini --batch 64

    /usr/bin/python3 bench/torch_gan.py --config dcgan --batch 64 --steps 285 --warmup 5
    /usr/bin/python3 bench/torch_gan.py --config wgan-gp --batch 64 --steps 75 --warmup 5

The networks are models/gan's with its defaults on 28x28x1 images with 10
classes (Config{Channels: [64, 128], Latent: 100}, conditional: the embedded
Fashion-MNIST subset has labels, and conditional is genmod's default):

  G  z [100] ++ class embedding [32] (table [11, 32], nn.ClassEmbedding)
     -> Dense 132 -> 7*7*128 -> [7, 7, 128] -> GroupNorm(32) -> ReLU
     -> nearest 2x + 3x3 conv 128 -> 64 (nn.Upsample), 14x14 -> GroupNorm(32) -> ReLU
     -> nearest 2x + 3x3 conv 64 -> 1, 28x28 -> tanh                       909,281 parameters
  D  SpaceToDepth + 3x3 conv 4 -> 64, 14x14 -> LeakyReLU(0.2)
     -> SpaceToDepth + 3x3 conv 256 -> 128, 7x7 -> LeakyReLU(0.2) -> phi [6272]
     score = Dense(phi, 1) + <e_y, phi>/sqrt(6272), e: table [11, 6272]  372,673 parameters
     (projection discriminator, Miyato & Koyama)

1,281,954 parameters in all (genmod's "training ... N parameters" line says
the same). Weights He-initialised (std sqrt(2/fan_in)), biases zero, class
tables N(0, 1), GroupNorm scale 1 / offset 0, as genmod's nn.

A training step is one generator update and its k discriminator (critic)
updates, as genmod's trainer counts steps (metrics.jsonl has one line per
step); every update draws a fresh batch (k + 1 batches a step) and fresh z:

  D phase, k times (dcgan k = 1, wgan-gp k = 5), G frozen (fakes under no_grad):
    dcgan:   loss = mean softplus(-D(x)) + mean softplus(D(G(z)))   (-V(D, G))
    wgan-gp: loss = -(mean D(x) - mean D(G(z))) + 10 * mean_b (||grad_xh D(xh)||_2 - 1)^2,
             xh = G(z) + eps (x - G(z)), eps ~ U[0, 1] per example, the norm over
             each example's 784 values (sqrt(sum + 1e-12)), second-order gradient
  G phase, once (D's weights frozen: requires_grad off, only G's gradients):
    dcgan:   loss = mean softplus(-D(G(z)))  (non-saturating)
    wgan-gp: loss = -mean D(G(z))
  each update: global gradient norm computed (no clipping: ClipNorm -1), Adam
  (dcgan: lr 2e-4, betas (0.5, 0.999); wgan-gp: lr 1e-4, betas (0.5, 0.9);
  eps 1e-7, GoMLX's), lr = the player's peak x genmod's schedule at the step
  (warm-up 100, cosine over 100,000 steps), EMA (decay min(0.999,
  (1+s)/(10+s))) of the updated player's weights, the loss, gradient norm and
  phase metrics (dcgan: mean sigmoid D(x), D(G(z)); wgan-gp: w1, gp) read back;
  one JSON line appended per step.

Differences from genmod that could not be removed (same parameter shapes and
counts, same function up to a permutation of weights, different kernels):
  - layout: NCHW here, NHWC in genmod (the projection's 6272 outputs and phi's
    6272 features are ordered (c, h, w) here, (h, w, c) there);
  - GroupNorm: torch's nn.GroupNorm (mean, then variance); genmod's
    nn.GroupNorm computes x*a + b from E[x] and E[x^2] (the same function);
  - the generator's upsampling: nearest 2x then a 3x3 conv at 2x resolution
    here; genmod computes the same function at low resolution as four 2x2
    phase convolutions (4/9 of the multiply-adds);
  - the discriminator's halvings: genmod's SpaceToDepth + 3x3 conv is here
    pixel_unshuffle + a 3x3 nn.Conv2d on 4C channels (the channels ordered
    (c, p, q), genmod (p, q, c)). It equals a 6x6 stride-2 conv with padding
    2 (same weight count, 6*6*C = 3*3*4C; --d-conv strided runs that,
    PyTorch's usual form): on 2 cores the two ran at the same speed within
    run-to-run noise (dcgan 4.3-4.9 steps/s, wgan-gp 1.16-1.33 for both);
  - class embeddings: nn.Embedding lookups here; one-hot matmuls in genmod.

Steps/s is measured as on the Go side: the time from the end of the warm-up
step to the end of the last step. The last line of output is one JSON object.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_rf import Batcher, blas_library, count_forward_macs, fashion_mnist_mini, lr_at

# config -> (k critic updates per G update, gradient-penalty weight, Adam lr, Adam betas), models/gan's defaults on images
CONFIGS = {
    "dcgan": (1, 0.0, 2e-4, (0.5, 0.999)),  # adamGAN, d-steps 1, g-loss ns
    "wgan-gp": (5, 10.0, 1e-4, (0.5, 0.9)),  # adamGP, d-steps 5, gp 10
}
LATENT = 100  # defaultLatentImage
CLASS_DIM = 32  # classDim() on images
CHANNELS = (64, 128)  # DefaultChannels


def groups_for(c):
    """gan.groupsFor: the largest of 32, 16, ..., 2 leaving at least 2 channels per group."""
    for g in (32, 16, 8, 4, 2):
        if c % g == 0 and c // g >= 2:
            return g
    return 1


def he(module):
    """nn.Dense / nn.Conv2D: He-initialised weights, zero biases."""
    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")  # std sqrt(2 / fan_in)
    nn.init.zeros_(module.bias)
    return module


def class_table(num_classes, dim):
    """nn.ClassEmbedding: [numClasses + 1, dim] (the extra row is the null class), N(0, 1)."""
    e = nn.Embedding(num_classes + 1, dim)
    nn.init.normal_(e.weight)
    return e


class Upsample(nn.Module):
    """nn.Upsample: nearest 2x, then a 3x3 conv with bias."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = he(nn.Conv2d(cin, cout, 3, padding=1))

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """gan.Model.convGenerator with the class embedding next to z."""

    def __init__(self, shape, num_classes, latent=LATENT, channels=CHANNELS):
        super().__init__()
        c_out, h, w = shape
        n = len(channels)
        self.h0, self.w0, self.c0 = h >> n, w >> n, channels[-1]
        self.latent = latent
        self.cls = class_table(num_classes, CLASS_DIM) if num_classes > 0 else None
        din = latent + (CLASS_DIM if num_classes > 0 else 0)
        self.project = he(nn.Linear(din, self.h0 * self.w0 * self.c0))
        self.norm_in = nn.GroupNorm(groups_for(self.c0), self.c0, eps=1e-5)
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n - 1, -1, -1):
            out = channels[i - 1] if i > 0 else c_out
            self.ups.append(Upsample(channels[i], out))
            if i > 0:
                self.norms.append(nn.GroupNorm(groups_for(out), out, eps=1e-5))

    def forward(self, z, y):
        h = z if self.cls is None else torch.cat([z, self.cls(y)], dim=1)
        x = self.project(h).view(-1, self.c0, self.h0, self.w0)
        x = F.relu(self.norm_in(x))
        for i, up in enumerate(self.ups):
            x = up(x)
            if i < len(self.norms):
                x = F.relu(self.norms[i](x))
        return torch.tanh(x)


class Halving(nn.Module):
    """nn.SpaceToDepth + nn.Conv2D 3x3: [C, H, W] -> [cout, H/2, W/2]. s2d: literally
    (pixel_unshuffle, then a 3x3 conv on 4C channels); strided: the equivalent 6x6
    stride-2 conv with padding 2 (same weight count, 36*C*cout)."""

    def __init__(self, cin, cout, mode):
        super().__init__()
        self.mode = mode
        if mode == "s2d":
            self.conv = he(nn.Conv2d(4 * cin, cout, 3, padding=1))
        else:
            self.conv = he(nn.Conv2d(cin, cout, 6, stride=2, padding=2))

    def forward(self, x):
        return self.conv(F.pixel_unshuffle(x, 2) if self.mode == "s2d" else x)


class Discriminator(nn.Module):
    """gan.Model.Discriminator on images: strided convs, LeakyReLU 0.2, no
    normalization, a Dense score plus the projection term <e_y, phi>/sqrt(|phi|)."""

    def __init__(self, shape, num_classes, channels=CHANNELS, mode="s2d"):
        super().__init__()
        c, h, w = shape
        self.convs = nn.ModuleList()
        for out in channels:
            self.convs.append(Halving(c, out, mode))
            c, h, w = out, h // 2, w // 2
        self.fd = c * h * w
        self.out = he(nn.Linear(self.fd, 1))
        self.projection = class_table(num_classes, self.fd) if num_classes > 0 else None

    def forward(self, x, y):
        h = x
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        phi = h.flatten(1)
        out = self.out(phi).squeeze(1)
        if self.projection is not None:
            out = out + (self.projection(y) * phi).sum(1) / math.sqrt(self.fd)
        return out


def global_norm(params):
    """The trainer's gradient norm: sqrt of the sum of every squared gradient."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))


def train(args):
    torch.manual_seed(1)
    k, gp_weight, peak, betas = CONFIGS[args.config]
    k = args.d_steps or k
    wgan = args.config == "wgan-gp"
    x_all, y_all, num_classes = fashion_mnist_mini()  # [-1, 1] (genmod's symmetric pixels), NCHW
    shape = tuple(x_all.shape[1:])
    gen = Generator(shape, num_classes)
    disc = Discriminator(shape, num_classes, mode=args.d_conv)
    g_params, d_params = list(gen.parameters()), list(disc.parameters())
    n_g, n_d = sum(p.numel() for p in g_params), sum(p.numel() for p in d_params)
    batcher = Batcher(x_all, y_all, args.batch)

    # Nominal multiply-adds of one forward pass of each network at this batch.
    xb, yb = batcher.next()
    batcher = Batcher(x_all, y_all, args.batch)  # rewind, as genmod does after building the model
    m_g = count_forward_macs(gen, (torch.randn(args.batch, gen.latent), yb))
    m_d = count_forward_macs(disc, (xb, yb))
    # Per step, in forward passes' worth (forward, input gradient, weight gradient each 1):
    # D phase: G forward (1), D on reals and on fakes (3 each), and for wgan-gp D on the
    # interpolates: forward, input gradient, and the backward of both through the weights (6);
    # G phase: G forward and backward (3), D forward and input gradient (2).
    d_phase = m_g + 6 * m_d + (6 * m_d if wgan else 0)
    step_macs = k * d_phase + 3 * m_g + 2 * m_d

    opt_d = torch.optim.Adam(d_params, lr=peak, betas=betas, eps=1e-7)
    opt_g = torch.optim.Adam(g_params, lr=peak, betas=betas, eps=1e-7)
    ema_d = [p.detach().clone() for p in d_params]
    ema_g = [p.detach().clone() for p in g_params]
    metrics = tempfile.NamedTemporaryFile("w", prefix="torch_gan_", suffix=".jsonl", delete=False)
    metrics.close()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, config {args.config}, batch {args.batch}, "
        f"k {k}, {n_g + n_d} parameters (G {n_g}, D {n_d}), D halvings {args.d_conv}, BLAS {blas_library()}",
        file=sys.stderr,
    )

    def update(opt, params, ema, loss, lr, decay):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = global_norm(params)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, params, alpha=1 - decay)
        lv, gv = loss.item(), gnorm.item()
        if not (math.isfinite(lv) and math.isfinite(gv)):
            sys.exit(f"loss became {lv} (gradient norm {gv})")
        return lv, gv

    times, first_loss = {}, None
    t_start = time.perf_counter()
    for step in range(1, args.steps + 1):
        lr = lr_at(step, base=peak)
        decay = min(0.999, (1 + step) / (10 + step))
        values = {}
        for _ in range(k):  # D (critic) phase
            x, y = batcher.next()
            b = x.shape[0]
            with torch.no_grad():
                fake = gen(torch.randn(b, gen.latent), y)
            real_s, fake_s = disc(x, y), disc(fake, y)
            if wgan:
                w1 = real_s.mean() - fake_s.mean()
                eps = torch.rand(b).view(b, 1, 1, 1)
                xh = (fake + eps * (x - fake)).requires_grad_(True)
                (grad,) = torch.autograd.grad(disc(xh, y).sum(), xh, create_graph=True)
                norms = torch.sqrt(grad.square().flatten(1).sum(1) + 1e-12)
                gp = ((norms - 1) ** 2).mean()
                loss = -w1 + gp_weight * gp
                extra = {"critic/w1": w1, "critic/gp": gp}
            else:
                loss = F.softplus(-real_s).mean() + F.softplus(fake_s).mean()
                extra = {"discriminator/d_real": torch.sigmoid(real_s).mean(),
                         "discriminator/d_fake": torch.sigmoid(fake_s).mean()}
            d_loss, _ = update(opt_d, d_params, ema_d, loss, lr, decay)
            for name, v in extra.items():
                values[name] = values.get(name, 0.0) + v.item() / k
        # G phase: D's weights get no gradient (genmod differentiates the "gen" group only).
        x, y = batcher.next()
        disc.requires_grad_(False)
        fk = disc(gen(torch.randn(x.shape[0], gen.latent), y), y)
        loss = -fk.mean() if wgan else F.softplus(-fk).mean()
        g_loss, gnorm = update(opt_g, g_params, ema_g, loss, lr, decay)
        disc.requires_grad_(True)
        if step == 1:
            first_loss = g_loss
        el = time.perf_counter() - t_start
        with open(metrics.name, "a") as f:
            f.write(json.dumps({"step": step, "loss": g_loss, "losses": {"critic" if wgan else "discriminator": d_loss,
                                "generator": g_loss}, "lr": lr, "grad_norm": gnorm, "values": values,
                                "elapsed_sec": el}) + "\n")
        times[step] = el
    os.unlink(metrics.name)

    measured = args.steps - args.warmup
    rate = measured / (times[args.steps] - times[args.warmup])
    train_flops = 2 * step_macs
    return {
        "config": args.config,
        "batch": args.batch,
        "d_steps": k,
        "params": n_g + n_d,
        "params_g": n_g,
        "params_d": n_d,
        "steps": args.steps,
        "warmup": args.warmup,
        "steps_per_sec": rate,
        "first_loss": first_loss,
        "forward_gflop_g": 2 * m_g / 1e9,
        "forward_gflop_d": 2 * m_d / 1e9,
        "train_gflop_per_step": train_flops / 1e9,
        "gflops": rate * train_flops / 1e9,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "blas": blas_library(),
        "d_conv": args.d_conv,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, choices=sorted(CONFIGS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30, help="total steps (G updates, each with its k D updates), warm-up included")
    ap.add_argument("--warmup", type=int, default=5, help="steps before the clock starts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--d-steps", type=int, default=0, help="D updates per G update (0: the model's, 1 for dcgan, 5 for wgan-gp)")
    ap.add_argument("--d-conv", choices=["s2d", "strided"], default="s2d",
                    help="D's halvings: pixel_unshuffle + 3x3 conv (genmod's form, default) or the equivalent 6x6 stride-2 conv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not 0 < args.warmup < args.steps:
        sys.exit("need 0 < --warmup < --steps")
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()
