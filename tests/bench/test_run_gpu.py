"""benchmarks/run_gpu.py on a machine without a GPU: it says so and exits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run_gpu.py"


def test_run_gpu_without_a_gpu_exits_cleanly_saying_so():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "no CUDA GPU on this machine: nothing measured" in done.stdout
