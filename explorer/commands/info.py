"""`sg-explorer info PKL [--json]`: what a checkpoint holds."""
from __future__ import annotations

import json

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("pkl", metavar="PKL", help="checkpoint: path, http(s) URL or training run folder")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"],
                        help="which generator to describe (default G_ema, else G)")


def describe(data: dict, net: str = "G_ema", explicit: bool = False) -> dict:
    """A JSON-able summary of a loaded checkpoint (`load_network_pkl`'s dict).

    synthesis_layers: [{'name', 'shape': [C, H, W]}] in forward order; parameters: network -> count.
    `net` missing falls back to the other generator unless `explicit`.
    """
    G = data.get(net)
    if G is None and not explicit:
        G = data.get("G_ema") or data.get("G")
    if G is None:
        have = ", ".join(k for k in ("G", "D", "G_ema") if data.get(k) is not None) or "nothing"
        raise UserError(f"the checkpoint has no {net if explicit else 'generator'} (it holds {have})")
    count = lambda m: sum(p.numel() for p in m.parameters()) if m is not None else 0
    out = {
        "format": data.get("format"),
        "networks": [k for k in ("G", "D", "G_ema", "augment_pipe") if data.get(k) is not None],
        "architecture": G.arch,
        "resolution": G.img_resolution,
        "img_channels": G.img_channels,
        "z_dim": G.z_dim, "w_dim": G.w_dim, "c_dim": G.c_dim,
        "num_ws": G.num_ws,
        "described": next(k for k in ("G_ema", "G") if data.get(k) is G),
        "parameters": {k: count(data.get(k)) for k in ("G", "D", "G_ema") if data.get(k) is not None},
        "synthesis_layers": [{"name": n, "shape": s} for n, s in G.synthesis.layer_shapes().items()],
        "w_resolutions": G.synthesis.w_resolutions,
    }
    lod = getattr(G.synthesis, "lod", None)   # progressive-growing networks (stylegan, progan): level of detail
    if lod is not None:
        out["lod"] = float(lod)
    return out


def run(args) -> int:
    from networks import load_network_pkl
    info = describe(load_network_pkl(args.pkl), args.net, explicit=args.net != "G_ema")
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"format        {info['format']}")
    print(f"networks      {', '.join(info['networks'])}")
    print(f"architecture  {info['architecture']}")
    print(f"resolution    {info['resolution']}x{info['resolution']}, {info['img_channels']} channels")
    print(f"z / w / c     {info['z_dim']} / {info['w_dim']} / {info['c_dim']}")
    print(f"num_ws        {info['num_ws']}")
    if "lod" in info:
        lod, res = info["lod"], info["resolution"]
        grown = ("fully grown" if lod == 0 else f"{res >> int(lod)} px, up-sampled" if lod == int(lod)
                 else f"{res >> int(lod)} px fading in over {res >> (int(lod) + 1)} px")
        print(f"lod           {info['lod']:g} ({grown})")
    print("parameters    " + ", ".join(f"{k} {v:,}" for k, v in info["parameters"].items()))
    print("synthesis layers:")
    for layer in info["synthesis_layers"]:
        print(f"  {layer['name']:<16} {'x'.join(map(str, layer['shape']))}")
    return 0
