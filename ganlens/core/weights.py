"""Checks on the weights a checkpoint holds, before a network is built from them: floating-point tensors,
finite values, and torch's load_state_dict error in one informative line."""

from __future__ import annotations

import os
import re

import torch

from ganlens.core.errors import GanlensError, first_line


def check_finite(path, role: str, net: torch.nn.Module) -> None:
    """Refuse weights that cannot make an image: NaN or infinite values, or negative BatchNorm variances.
    The message names the first bad tensor (set GANLENS_ALLOW_NONFINITE=1 to load such a file anyway, for
    debugging a diverged run)."""
    if os.environ.get("GANLENS_ALLOW_NONFINITE") == "1":
        return
    for name, t in net.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise GanlensError(f"{path}: {role} tensor {name!r} holds {bad} NaN/infinite value(s) of {t.numel()}; "
                               f"the run diverged (set GANLENS_ALLOW_NONFINITE=1 to load it anyway)")
        if name.endswith("running_var") and (t < 0).any():
            raise GanlensError(f"{path}: {role} tensor {name!r} holds negative variances; the file is corrupt")



def load_error(e: BaseException) -> str:
    """The informative line of torch's load_state_dict error: the first mismatched key with both shapes, or
    the missing / unexpected keys (torch's own first line names only the class)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        m = re.match(r"size mismatch for ([^:]+): copying a param with shape torch.Size\((\[[^\]]*\])\) from "
                     r"checkpoint, the shape in current model is torch.Size\((\[[^\]]*\])\)", ln)
        if m:
            return f"{m[1]} has shape {m[2]} in the file but {m[3]} in the network"
    for ln in lines:
        if ln.startswith(("Missing key", "Unexpected key")):
            return ln[:300]
    return first_line(str(e))



def check_dtypes(path, sd: dict) -> None:
    """Weights are floating-point: a bool, integer or complex tensor (other than BatchNorm's step counter)
    would be converted silently by load_state_dict; refused naming the tensor."""
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and not v.is_floating_point() and not str(k).endswith("num_batches_tracked"):
            raise GanlensError(f"{path}: tensor {k} is {str(v.dtype).replace('torch.', '')}; weights must be "
                               f"floating-point")
