"""Fixtures of the HPC tests (helpers live in hpc_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hpc_helpers import EmulatorProcess, start_emulator, stop_emulator


@pytest.fixture
def emulator_process() -> Iterator[EmulatorProcess]:
    """The demo emulator as a subprocess on 127.0.0.1 (small latency so runs overlap)."""
    emu = start_emulator("--preset", "demo", "--latency-ms", "20")
    try:
        yield emu
    finally:
        stop_emulator(emu)
