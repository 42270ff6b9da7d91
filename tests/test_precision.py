"""precision=auto: bf16 wherever the hardware multiplies bf16, decided by what the CPU can do."""

from __future__ import annotations

import pytest
import torch

from videoae.training import runtime
from videoae.training.runtime import resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"),
    [
        (True, True, "bf16"),  # Intel Xeon with AMX (measured 1.8x)
        (False, True, "bf16"),  # AMD EPYC Zen 4: AVX-512 BF16, no AMX (measured 1.47x)
        (False, False, "fp32"),  # bf16 would be emulated, slower than fp32
    ],
    ids=["amx", "avx512-bf16", "neither"],
)
def test_auto_picks_bf16_on_cpus_with_bf16_instructions(monkeypatch, amx: bool, avx512_bf16: bool, expected: str) -> None:
    monkeypatch.setattr(runtime.torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(runtime.torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert resolve_precision("auto", CPU) == expected


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept(monkeypatch, precision: str) -> None:
    monkeypatch.setattr(runtime, "cpu_has_bf16_hardware", lambda: precision == "fp32")  # the opposite of what was asked
    assert resolve_precision(precision, CPU) == precision
