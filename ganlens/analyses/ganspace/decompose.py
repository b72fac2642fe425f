"""PCA of a generator layer's activations and the latent directions that move along its components.

    layer = resolve_layer(gan, "first")                  # a Layer: "first" or any name / alias of G
    basis = decompose(gan, layer, z, components=8)       # z: (n, nz) latents

Härkönen et al. (2020), for generators whose input is z: the components are found in activation space, then
carried back to latent directions by regressing the latents on the standardised PCA coordinates (least
squares), each direction scaled to unit length. Differences from the reference: docs/methods.md (GANSpace).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from ganlens.analyses.ganspace.record import Basis
from ganlens.core.errors import GanlensError, require_memory
from ganlens.core.generate import activations
from ganlens.core.layers import Layer

FIRST = "first"        # the default layer: G's first hidden layer in execution order (the paper's early layer)
SCREE = 20             # components computed beyond the requested ones, for the scree panel
OVERSAMPLE = 10        # randomized SVD: extra random columns (Halko et al. 2011)
POWER_ITERATIONS = 7   # randomized SVD: power iterations (scikit-learn's choice for few components)
LATENT_STD = {"normal": 1.0, "uniform": 1.0 / np.sqrt(3.0)}  # std of a latent's coordinate on any unit direction


def resolve_layer(gan, layer: str | Layer) -> Layer:
    """A :class:`Layer` of G: ``"first"`` (the first hidden layer executed), any layer name, alias or module
    path of G, or a Layer as it is. GanlensError when G has no such layer."""
    if isinstance(layer, Layer):
        return layer
    if not isinstance(layer, str):
        raise GanlensError(f"layer must be a layer name of G (or 'first'), got {type(layer).__name__}")
    if layer.strip() == FIRST:
        table = gan.layers("G")
        if not table.hidden:
            raise GanlensError(f"{gan.where}: G has no hidden layer before its output ({table.output.name}); "
                               f"name one with layer=")
        return table.hidden[0]
    return gan.layer("G", layer)


def collect(gan, layer: Layer, z: torch.Tensor, batch_size: int) -> np.ndarray:
    """``layer``'s activations for latents z (n, nz), flattened -> float64 (n, C*H*W)."""
    dims = int(np.prod(layer.shape))
    require_memory(4 * len(z) * dims * 8, f"the PCA of {len(z)} activations of layer {layer.name} ({dims} values)")
    a = activations(gan, z, layer.name, batch=batch_size)
    return a.reshape(len(z), -1).double().numpy()


def pca(X: np.ndarray, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The top ``m`` principal components of X (n, D): (mean (D,), components (m, D) unit rows, coordinates
    (n, m), their standard deviations (m,), total variance). Randomized SVD (Halko et al. 2011, the algorithm of
    the reference's fbpca estimator: ``OVERSAMPLE`` extra columns, ``POWER_ITERATIONS`` re-orthonormalised power
    iterations; exact SVD when the matrix is that small anyway); standard deviations and the total variance with
    ddof 0, as the reference's estimators compute them. Each component's largest entry is positive."""
    Xt = torch.from_numpy(X)
    mean = Xt.mean(dim=0)
    Xc = Xt - mean
    q = m + OVERSAMPLE
    if q >= min(Xc.shape):
        vt = torch.linalg.svd(Xc, full_matrices=False)[2][:m]
    else:
        omega = torch.from_numpy(np.random.default_rng([seed, 0]).standard_normal((Xc.shape[1], q)))
        basis = torch.linalg.qr(Xc @ omega)[0]
        for _ in range(POWER_ITERATIONS):
            basis = torch.linalg.qr(Xc @ torch.linalg.qr(Xc.T @ basis)[0])[0]
        vt = torch.linalg.svd(basis.T @ Xc, full_matrices=False)[2][:m]
    vt = (vt * torch.sign(vt.gather(1, vt.abs().argmax(dim=1, keepdim=True)))).numpy()
    mean, Xc = mean.numpy(), Xc.numpy()
    coords = Xc @ vt.T
    std = coords.std(axis=0)
    order = np.argsort(-std, kind="stable")  # sorted by the variance actually explained, as the reference does
    return mean, vt[order], coords[:, order], std[order], float(Xc.var(axis=0).sum())


def regress(coords: np.ndarray, std: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent directions of the components: least squares M with (coords / std) M ~ z (the reference's
    ``linreg_lstsq``, gelsd), rows scaled to unit length. Returns (directions (k, nz), latent mean (nz,))."""
    a = coords / np.where(std > 0, std, 1.0)
    m = scipy.linalg.lstsq(a, z, lapack_driver="gelsd")[0]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0), z.mean(axis=0)


def random_activation_ratio(X: np.ndarray, mean: np.ndarray, k: int, total: float, seed: int) -> np.ndarray:
    """Share of the variance along ``k`` random unit directions of activation space (the reference's
    ``random_stdevs``): what a component explains when it is no better than chance."""
    rng = np.random.default_rng([seed, 1])
    dirs = rng.standard_normal((k, X.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return ((X - mean) @ dirs.T).var(axis=0) / total if total > 0 else np.zeros(k)


def decompose(gan, layer: Layer, z: torch.Tensor, components: int, seed: int, batch_size: int) -> Basis:
    """PCA of ``layer`` over latents z (n, nz) and the latent directions of its top ``components``."""
    X = collect(gan, layer, z, batch_size)
    n, dims = X.shape
    if components > min(n - 1, dims):
        raise GanlensError(f"components={components} is more than layer {layer.name} allows: {dims} values per "
                           f"sample and n={n} latents give at most {min(n - 1, dims)} components")
    m = min(max(components, SCREE), n - 1, dims)
    mean, comps, coords, std, total = pca(X, m, seed)
    if total <= 0:
        raise GanlensError(f"layer {layer.name} does not vary over the {n} latents (its activations are constant); "
                           f"choose another layer")
    k = components
    zn = z.double().numpy()
    dirs, lat_mean = regress(coords[:, :k], std[:k], zn)
    fit = [_corr(coords[:, c], zn @ dirs[c]) for c in range(k)]
    return Basis(layer=layer, act_mean=mean, act_comp=comps, act_std=std, var_ratio=std ** 2 / total,
                 total_var=total, random_var_ratio=random_activation_ratio(X, mean, k, total, seed),
                 lat_comp=dirs, lat_mean=lat_mean, lat_std=LATENT_STD[gan.latent], fit_corr=np.array(fit))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = a.std(), b.std()
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb)) if sa > 0 and sb > 0 else 0.0
