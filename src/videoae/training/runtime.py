"""Process-wide settings that make training fast on CPUs, applied once by whoever trains or benchmarks.

- Denormal floats: recurrent backprop produces tiny values after some optimizer steps, and CPUs
  handle denormals through a slow microcode path; flushing them to zero changes no result that
  matters and can make steps several times faster.
- Memory reuse: glibc hands every allocation above 32 MB straight to the kernel (``mmap``) and
  returns it on ``free``, so each training step faults in and zeroes its weight gradients and
  activations again, about a gigabyte for the paper's model. Keeping freed memory in the heap
  for reuse removes that cost (measured: 5.7 s -> 3.9 s per step; docs/models.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Iterator

import torch

logger = logging.getLogger(__name__)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the device multiplies bf16 in hardware, else ``fp32``.

    The rule follows measurements, not brands: a CUDA GPU that supports bf16; a CPU with AMX tiles
    (ConvLSTM steps measured 1.8x faster than fp32 on an Intel Xeon) or with AVX-512 BF16 dot
    products (1.47x on an AMD EPYC Zen 4, which has no AMX); docs/models.md, "bf16 on CPUs". A CPU
    with neither emulates bf16 and runs it slower than fp32.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_bf16_hardware() else "fp32"


def cpu_has_bf16_hardware() -> bool:
    """Whether this CPU has bf16 multiply instructions: AMX tiles or AVX-512 BF16."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(probe() for probe in probes if probe is not None)


# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # the largest value mallopt accepts (an int)


def keep_freed_memory() -> bool:
    """Make glibc serve large allocations from its heap and keep freed memory for reuse.

    Returns True where it applied (Linux with glibc); a no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
    if applied:
        logger.debug("glibc keeps freed memory for reuse (M_MMAP_MAX=0)")
    return applied


def configure_for_training(device: torch.device | str = "cpu") -> None:
    """Apply the CPU settings above for the rest of the process (scripts, benchmarks)."""
    if torch.device(device).type == "cpu":
        torch.set_flush_denormal(True)
        keep_freed_memory()


@contextlib.contextmanager
def training_settings(device: torch.device | str = "cpu") -> Iterator[None]:
    """The CPU settings above for the duration of a training run; denormal handling is restored
    afterwards, so code that runs later in the same process (a notebook) sees IEEE floats again."""
    configure_for_training(device)
    try:
        yield
    finally:
        if torch.device(device).type == "cpu":
            torch.set_flush_denormal(False)
