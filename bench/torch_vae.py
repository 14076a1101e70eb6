"""PyTorch 1.13 mirror of genmod's VAE family (models/vae) for the speed
comparison (imported by bench/torch_rf.py, configs vae-mlp and iwae-mlp).

    vae-mlp:  genmod train --model vae  --data fashion-mnist-mini --binarize dynamic
    iwae-mlp: genmod train --model iwae --data fashion-mnist-mini --binarize dynamic   (K = 5)

The network is models/vae's with its defaults (Config{Hidden: [200, 200],
Latent: 50}; Burda et al.'s one-stochastic-layer models), built from
nn.MLP (Dense = x·W + b, He-initialised W, zero b; SiLU between layers):

    encoder  x [784] -> 200 -> SiLU -> 200 -> SiLU -> 100 = (mu, log sigma^2), 50 each
    decoder  z [50]  -> 200 -> SiLU -> 200 -> SiLU -> 784 Bernoulli logits l

425,284 parameters (genmod's "training ... N parameters" line says the same).

Data: the embedded Fashion-MNIST subset, pixel/255 in [0, 1], flattened;
dynamic binarization x ~ Bernoulli(pixel/255), drawn anew for every batch
(genmod's data.Transform with --binarize dynamic; binarized images stay 0/1,
no [-1, 1] scaling).

Loss, as vae.Model.Loss (nats per dimension, D = 784):
    log p(x|z) = sum_d [x_d l_d - softplus(l_d)]
    vae  (K = 1): z = mu + exp(logvar/2) eps, eps ~ N(0, I)
                  KL = 1/2 sum (mu^2 + exp(logvar) - 1 - logvar)
                  loss = -mean_b (log p(x|z) - KL) / D
    iwae (K = 5): z_k = mu + exp(logvar/2) eps_k, eps [B, K, L]
                  log w_k = log p(x|z_k) + log N(z_k; 0, I) - log N(z_k; mu, sigma^2)
                  loss = -mean_b logmeanexp_k(log w_k) / D  (max subtracted under stop-gradient)
The step around it (clipping, Adam, schedule, EMA, metrics line) is
torch_rf.py's, which is genmod's train step.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {"vae-mlp": 1, "iwae-mlp": 5}  # config -> importance samples K (vae.DefaultIWAEK = 5)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def he_linear(din, dout):
    """nn.Dense: He-initialised weights, zero biases."""
    lin = nn.Linear(din, dout)
    nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")  # std sqrt(2 / fan_in)
    nn.init.zeros_(lin.bias)
    return lin


class MLP(nn.Module):
    """nn.MLP: Dense -> SiLU per hidden width, then a Dense output."""

    def __init__(self, din, hidden, dout):
        super().__init__()
        dims = (din, *hidden)
        self.hidden = nn.ModuleList(he_linear(i, o) for i, o in zip(dims, dims[1:]))
        self.out = he_linear(dims[-1], dout)

    def forward(self, x):
        for layer in self.hidden:
            x = F.silu(layer(x))
        return self.out(x)


def log_normal(eps, logvar):
    """vae's logNormal: log N(z; mu, diag exp(logvar)) summed over the last axis, eps = (z - mu)/sigma."""
    return -(0.5 * eps * eps + 0.5 * logvar + HALF_LOG_2PI).sum(-1)


class VAE(nn.Module):
    """models/vae with a Bernoulli decoder on binarized images, K importance samples (1: the ELBO)."""

    def __init__(self, dim, k=1, hidden=(200, 200), latent=50):
        super().__init__()
        self.dim, self.k, self.latent = dim, k, latent
        self.encoder = MLP(dim, hidden, 2 * latent)
        self.decoder = MLP(latent, tuple(reversed(hidden)), dim)

    def bound(self, x):
        """The training bound per example [B] in nats: the ELBO (K = 1) or IWAE_K."""
        b, l = x.shape[0], self.latent
        h = self.encoder(x)
        mu, logvar = h[:, :l], h[:, l:]
        if self.k == 1:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.decoder(z)
            rec = (x * logits - F.softplus(logits)).sum(-1)
            kl = 0.5 * (mu * mu + torch.exp(logvar) - (logvar + 1)).sum(-1)
            return rec - kl
        eps = torch.randn(b, self.k, l)
        lv = logvar.unsqueeze(1)
        z = mu.unsqueeze(1) + torch.exp(0.5 * lv) * eps  # [B, K, L]
        log_q = log_normal(eps, lv)
        logits = self.decoder(z.reshape(b * self.k, l)).reshape(b, self.k, self.dim)
        log_px = (x.unsqueeze(1) * logits - F.softplus(logits)).sum(-1)  # [B, K]
        log_w = log_px + log_normal(z, torch.zeros_like(z)) - log_q
        mx = log_w.max(-1, keepdim=True).values.detach()
        return torch.log(torch.exp(log_w - mx).sum(-1)) + mx.squeeze(-1) - math.log(self.k)

    def forward(self, x, t=None, y=None):
        return self.bound(x)

    def prepare(self, pixels):
        """Dynamic binarization: pixel/255 in [0, 1] -> Bernoulli draw, per batch."""
        return torch.bernoulli(pixels)

    def loss(self, pixels):
        return -self.bound(self.prepare(pixels)).mean() / self.dim
