"""A fixed-seed quick run of the .fcs fuzz harness (tests/container/fuzz.py) in a fresh process,
so that its memory figure is its own: no exception outside the package's error types, no
output beyond what the packets justify, no case over 10 s, peak RSS under 512 MB.

The long run is by hand: ``python bench/fuzz_fcs.py --cases 100000 --seed 1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FUZZ = Path(__file__).with_name("fuzz.py")


def test_quick_fuzz_run_finds_nothing() -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(FUZZ), "--cases", "1500", "--seed", "0"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1500 cases" in proc.stdout and "failures:  0" in proc.stdout
    # every kind of mutation ran, and the cases did not all end the same way
    for name in ("crafted", "duplicate", "concat", "truncate", "insert"):
        assert f"{name} " in proc.stdout.split("mutations:")[1]
    assert "refused" in proc.stdout and "damaged" in proc.stdout and "intact" in proc.stdout


def test_the_harness_catches_an_unbounded_reader() -> None:
    """With the sample count trusted as stated, crafted headers produce far too many tokens."""
    code = (f"import sys; sys.path.insert(0, {str(FUZZ.parent)!r}); import fuzz\n"
            "from focalcli.container import FcsReader\n"
            "FcsReader.num_samples = FcsReader.stated_num_samples\n"
            "sys.exit(0 if fuzz.run(300, 3) else 1)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tokens out of a stream justifying" in proc.stdout
