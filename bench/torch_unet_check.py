#!/usr/bin/python3
"""PyTorch numerics check of genmod's U-Net, through `genmod export`.

bench/unetcheck (Go) exports a small trained rf run's U-Net with the code of
`genmod export` to DIR/unet.safetensors and writes fixed inputs and genmod's
output of one forward pass to DIR/unet_io.safetensors. This script reads both
files itself (8-byte little-endian header length, JSON header, raw
little-endian data; the `safetensors` package is not needed), maps every
genmod tensor onto bench/torch_rf.py's U-Net mirror, runs the same inputs and
compares:

    max |torch - genmod| / max |genmod| <= 1e-5    (--tol)

Every genmod tensor must be used exactly once and every parameter and buffer
of the mirror set exactly once. It also reports the same forward pass in
float64 (the mirror converted with .double()), which shows how far each
float32 side is from the exact function. Exit status 0 when they agree.

    GOEXPERIMENT=simd go run ./bench/unetcheck --out /tmp/unetcheck
    /usr/bin/python3 bench/torch_unet_check.py /tmp/unetcheck

The last line of output is one JSON object with the results.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rf import UNet  # noqa: E402  (the benchmark's mirror of nn.UNet)

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8"}


def read_safetensors(path):
    """Returns ({name: torch tensor}, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        sys.exit(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        sys.exit(f"{path}: header length {n} exceeds the file")
    header = json.loads(buf[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = memoryview(buf)[8 + n :]
    out = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {e['dtype']}, this reader knows {sorted(DTYPES)}")
        b, end = e["data_offsets"]
        a = np.frombuffer(body[b:end], dtype=DTYPES[e["dtype"]])
        if a.size != int(np.prod(e["shape"], dtype=np.int64)):
            sys.exit(f"{path}: tensor {name}: {a.size} values for shape {e['shape']}")
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return out, meta


def genmod_to_torch(net, g, cfg):
    """Maps genmod's tensors g ({path: tensor}, paths without the "net/"
    prefix) onto net's state dict. GoMLX layouts: Dense kernels [in, out]
    (Linear: [out, in]); conv kernels [kh, kw, in, out] (Conv2d: [out, in,
    kh, kw]); Downsample kernel [4C, out] over space-to-depth channels
    (p·2+q)·C+c, which is the 2x2 stride-2 conv kernel [2, 2, C, out]."""
    g = dict(g)
    state = {}

    def take(name):
        if name not in g:
            sys.exit(f"genmod export has no tensor net/{name} (or it was used twice)")
        return g.pop(name)

    def put(key, value):
        if key in state:
            sys.exit(f"PyTorch parameter {key} set twice")
        state[key] = value

    def dense(t, n):
        put(t + ".weight", take(n + "/weights").t())
        put(t + ".bias", take(n + "/biases"))

    def conv(t, n, bias=True):
        put(t + ".weight", take(n + "/weights").permute(3, 2, 0, 1))
        if bias:
            put(t + ".bias", take(n + "/biases"))

    def norm(t, n):
        put(t + ".weight", take(n + "/scale"))
        put(t + ".bias", take(n + "/offset"))

    def res(t, n):
        norm(t + ".norm_1", n + "/norm_1")
        conv(t + ".conv_1", n + "/conv_1", bias=False)
        dense(t + ".embedding", n + "/embedding")
        norm(t + ".norm_2", n + "/norm_2")
        conv(t + ".conv_2", n + "/conv_2", bias=False)
        if f"{n}/skip/weights" in g:
            conv(t + ".skip", n + "/skip", bias=False)

    dense("cond.time_1", "time_1")
    dense("cond.time_2", "time_2")
    if cfg["num_classes"] > 0:
        put("cond.cls.weight", take("class/embeddings"))
    conv("input", "input")
    levels, blocks = len(cfg["channels"]), cfg["res_blocks_per_level"]
    block = 0  # genmod numbers ResBlocks res_1, res_2, ... in call order
    for level in range(levels):
        for i in range(blocks):
            block += 1
            res(f"down_res.{level * blocks + i}", f"res_{block}")
        if level < levels - 1:
            w = take(f"down_{level}/weights")  # [4C, out]
            c = w.shape[0] // 4
            put(f"downs.{level}.weight", w.reshape(2, 2, c, w.shape[1]).permute(3, 2, 0, 1))
            put(f"downs.{level}.bias", take(f"down_{level}/biases"))
    res("mid_1", f"res_{block + 1}")
    res("mid_2", f"res_{block + 2}")
    block += 2
    up = 0
    for level in range(levels - 1, -1, -1):
        for i in range(blocks):
            block += 1
            res(f"up_res.{(levels - 1 - level) * blocks + i}", f"res_{block}")
        if level > 0:
            conv(f"ups.{up}.conv", f"up_{level}")
            up += 1
    norm("output_norm", "output_norm")
    conv("output", "output")
    if g:
        sys.exit(f"genmod tensors without a PyTorch counterpart: {sorted('net/' + k for k in g)}")
    want = net.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        sys.exit(f"PyTorch parameters not set: {missing}; set but not in the mirror: {extra}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(want[k].shape):
            sys.exit(f"{k}: genmod gives shape {tuple(v.shape)}, the mirror has {tuple(want[k].shape)}")
    return {k: v.contiguous() for k, v in state.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="folder written by bench/unetcheck (unet.safetensors, unet_io.safetensors)")
    ap.add_argument("--tol", type=float, default=1e-5, help="largest max|diff|/max|out| accepted")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    weights, wmeta = read_safetensors(os.path.join(args.dir, "unet.safetensors"))
    io, iometa = read_safetensors(os.path.join(args.dir, "unet_io.safetensors"))
    cfg = json.loads(iometa["unet_config"])
    if cfg["attention"]:
        sys.exit("the mirror in bench/torch_rf.py has no attention layer")
    acts = {"relu": F.relu, "silu": F.silu}
    x = io["x"].permute(0, 3, 1, 2)  # genmod NHWC -> NCHW
    net = UNet(x.shape[1], cfg["num_classes"], channels=tuple(cfg["channels"]), blocks=cfg["res_blocks_per_level"],
               groups=cfg["groups"], time_dim=cfg["time_dim"], act=acts[cfg["activation"]])
    if any(not k.startswith("net/") for k in weights):
        sys.exit(f"tensors outside net/: {sorted(k for k in weights if not k.startswith('net/'))}")
    state = genmod_to_torch(net, {k[len("net/"):]: v for k, v in weights.items()}, cfg)
    net.load_state_dict(state, strict=True)
    net.eval()

    t, labels = io["t"], io["labels"].long()
    want = io["out"].permute(0, 3, 1, 2).double()
    with torch.no_grad():
        out32 = net(x, t, labels).double()
        out64 = net.double()(x.double(), t.double(), labels)
    scale = want.abs().max().item()
    rel = lambda a, b: (a - b).abs().max().item() / scale  # noqa: E731
    r = {
        "check": "unet",
        "weights": wmeta.get("genmod.weights"),
        "step": int(wmeta.get("genmod.step", "0")),
        "params": sum(p.numel() for p in net.parameters()),
        "tensors": len(weights),
        "max_abs_out": scale,
        "max_abs_diff": (out32 - want).abs().max().item(),
        "max_rel_diff": rel(out32, want),
        "genmod_vs_float64": rel(want, out64),
        "torch_vs_float64": rel(out32, out64),
        "tol": args.tol,
    }
    r["ok"] = r["max_rel_diff"] <= args.tol
    print(f"U-Net ({r['params']} parameters, {r['tensors']} tensors, {r['weights']} weights at step {r['step']}): "
          f"max |torch - genmod| / max |genmod| = {r['max_rel_diff']:.3g} (tolerance {args.tol:g}); "
          f"against float64: genmod {r['genmod_vs_float64']:.3g}, torch {r['torch_vs_float64']:.3g}", file=sys.stderr)
    print(json.dumps(r))
    if not r["ok"]:
        sys.exit(f"PyTorch U-Net differs from genmod's: max relative difference {r['max_rel_diff']:.3g} > {args.tol:g}")


if __name__ == "__main__":
    main()
