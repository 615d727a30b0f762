"""Fixed histogram bins shared by every neuron, every model and every shard of a scan.

Activations span many orders of magnitude between models and layers, and a neuron's range is not
known before the scan, so the bins are log-linear, read straight from the float32 bit pattern:
per sign, each octave of ``|x|`` from 2^-8 to 2^9 is split in two (edges at 1× and 1.5× each
power of two), 34 bins a sign; ``(-2^-8, 0]`` and ``(0, 2^-8)`` are the two central bins;
``|x| ≥ 512``, inf and NaN fall into the two outer bins. 72 bins in all. A positive bin holds
``[a, b)``, a negative one ``(-b, -a]``. Every bin above the first central one holds only
positive values, so the density (fraction of activations above zero) is read off the histogram.
Fixed edges make histograms of separate shards add up exactly, and the bin of a value costs a
shift and a table look-up. (One approximation: positive float32 subnormals below 2^-127, which no
model's activations reach in practice, count as zero.)
"""

from __future__ import annotations

from itertools import pairwise

import torch

__all__ = [
    "N_BINS",
    "POSITIVE_FROM",
    "bin_centres",
    "bin_edges",
    "bin_index",
    "bin_keys",
    "bin_table",
    "reference_bin",
]

_LOW_EXP, _HIGH_EXP = 127 - 8, 127 + 9  # float32 biased exponents: 2^-8 .. 2^9
_M_LOW, _M_HIGH = 2 * _LOW_EXP, 2 * _HIGH_EXP  # magnitude codes: exponent*2 + top mantissa bit
_PER_SIGN = _M_HIGH - _M_LOW  # 34
CENTRE = _PER_SIGN + 1  # 35: (-2^-8, 0]
POSITIVE_FROM = CENTRE + 1  # 36: (0, 2^-8), then the positive bins
N_BINS = 2 * _PER_SIGN + 4  # 72


def _lookup_table() -> torch.Tensor:
    """Bin of every 10-bit key (sign bit, 8 exponent bits, top mantissa bit)."""
    table = torch.empty(1024, dtype=torch.int32)
    for key in range(1024):
        negative, code = key >> 9, key & 511
        if code < _M_LOW:
            table[key] = CENTRE if negative or code == 0 else POSITIVE_FROM
        elif code >= _M_HIGH:
            table[key] = 0 if negative else N_BINS - 1
        else:
            offset = code - _M_LOW  # 0 .. 33, growing with |x|
            table[key] = CENTRE - 1 - offset if negative else POSITIVE_FROM + 1 + offset
    return table


_TABLE = _lookup_table()


def bin_table() -> torch.Tensor:
    """int32 ``[1024]``: the bin of every key :func:`bin_keys` produces."""
    return _TABLE


def bin_keys(values: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """int32 10-bit key (sign, exponent, top mantissa bit) of each value; its bin is ``bin_table()[key]``.

    A bfloat16 value is the top half of its float32 bit pattern, so its key comes from the 16-bit
    pattern directly (a shift of 6 instead of 22): no float32 copy of the activations is made.
    """
    if values.dtype == torch.bfloat16:
        bits = values.contiguous().view(torch.int16)
        return torch.bitwise_right_shift(bits, 6, out=out).bitwise_and_(1023)
    bits = values.float().contiguous().view(torch.int32)
    return torch.bitwise_right_shift(bits, 22, out=out).bitwise_and_(1023)


def bin_index(
    values: torch.Tensor, out: torch.Tensor | None = None, key: torch.Tensor | None = None
) -> torch.Tensor:
    """int32 bin of each float32 value, same shape.

    ``out`` and ``key`` are optional int32 buffers of the same shape: reusing them avoids two
    fresh large allocations per call, which cost page faults every time on a CPU.
    """
    bits = values.float().contiguous().view(torch.int32)
    key = torch.bitwise_right_shift(bits, 22, out=key).bitwise_and_(
        1023
    )  # arithmetic: sign lands at bit 9
    flat_out = None if out is None else out.view(-1)
    return torch.index_select(_TABLE.to(values.device), 0, key.view(-1), out=flat_out).view(
        key.shape
    )


def _magnitude_edges() -> list[float]:
    """Bin boundaries of |x|: 2^-8, 1.5 × 2^-8, 2^-7, ... 2^9."""
    return [
        2.0 ** (code // 2 - 127) * (1.5 if code % 2 else 1.0) for code in range(_M_LOW, _M_HIGH + 1)
    ]


def bin_edges() -> torch.Tensor:
    """The 71 boundaries between bins, ascending (float64); 0 separates the central bins."""
    mags = _magnitude_edges()
    return torch.tensor([-m for m in reversed(mags)] + [0.0] + mags, dtype=torch.float64)


def bin_centres() -> list[float]:
    """A representative value per bin (for plotting); the outer bins use their inner edge."""
    edges = bin_edges().tolist()
    inner = [(a + b) / 2 for a, b in pairwise(edges)]
    return [edges[0], *inner, edges[-1]]


def reference_bin(value: float) -> int:
    """The definition, in plain Python (tests compare :func:`bin_index` against it)."""
    mags = _magnitude_edges()
    magnitude = abs(value)
    if magnitude != magnitude or magnitude >= mags[-1]:  # NaN or beyond the last edge
        return 0 if value < 0 else N_BINS - 1
    if magnitude < mags[0]:
        return POSITIVE_FROM if value > 0 else CENTRE
    offset = max(i for i, m in enumerate(mags) if magnitude >= m)
    return CENTRE - 1 - offset if value < 0 else POSITIVE_FROM + 1 + offset
