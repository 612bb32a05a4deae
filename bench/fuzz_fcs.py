"""Long fuzz run of the .fcs reading side (the harness is tests/container/fuzz.py).

    nice -n 10 env OMP_NUM_THREADS=1 python bench/fuzz_fcs.py --cases 100000 --seed 1 \
        --report-every 10000

Prints the counts per mutation and per outcome (refused / damaged / intact / FAIL ...), the
slowest case and the peak RSS; exit status 1 if any case failed. One core, numpy only.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "container"))

import fuzz  # noqa: E402

if __name__ == "__main__":
    sys.exit(fuzz.main())
