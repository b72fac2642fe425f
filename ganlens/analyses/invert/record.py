"""What inversion passes between its steps (besides :class:`.reconstruct.Inverted`) and the JSON it writes:
the summary blocks of a set of inverted images, their arrays, and the mode-dropping block."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ganlens.analyses.invert import membership as st
from ganlens.analyses.invert import reconstruct as core


@dataclass
class ModesState:
    """What the mode-dropping check gathers while the real images are inverted: each batch's per-image class
    shares (B, k), and the reconstruction errors inside each class's masks."""

    errors: st.MaskErrors
    shares: list[np.ndarray] = field(default_factory=list)


def stats_block(d: np.ndarray) -> dict:
    return {"median": float(np.median(d)), "mean": float(d.mean()), "min": float(d.min()),
            "q05": float(np.quantile(d, 0.05)), "q95": float(np.quantile(d, 0.95)), "max": float(d.max()),
            "n": int(len(d))}



def arrays_of(prefix: str, inv: core.Inverted) -> dict:
    out = {f"{prefix}latents": inv.latents.astype(np.float32), f"{prefix}latent_norm": inv.norm.astype(np.float32)}
    out.update({f"{prefix}distance_{k}": v.astype(np.float32) for k, v in inv.distances.items()})
    for name, (idx, real, recon) in (("shown", inv.shown), ("best", inv.best)):
        out.update({f"{prefix}{name}_index": idx, f"{prefix}{name}_real": real, f"{prefix}{name}_recon": recon})
    return out



def images_block(inv: core.Inverted) -> dict:
    return {"data": inv.spec, "images": len(inv.latents), "distance": {k: stats_block(v) for k, v in inv.distances.items()},
            "latent_norm": stats_block(inv.norm), "best": {"index": inv.best[0].tolist(),
                                                       "pixel": [float(inv.distances["pixel"][i])
                                                                 for i in inv.best[0]]}}



def modes_json(seg, samples: int, real_images: int, per: dict, errors: dict) -> dict:
    """invert.json's "modes" block: per-class shares of generated vs real images and the rule's verdicts."""
    return {"segmenter": seg.describe(), "samples": samples, "real_images": real_images, "classes": per,
            "error_inside_class": errors, "under_generated": [c for c, v in per.items() if v["under_generated"]],
            "over_generated": [c for c, v in per.items() if v["over_generated"]],
            "rule": "under-generated: the 95% interval of (generated - real) mean pixel share lies below 0 "
                    "(normal interval, Welch standard error; one interval per class, not corrected for the "
                    f"{len(per)} classes)"}
