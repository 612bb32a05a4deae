"""``python -m focalcli.train``; OpenMP threads sleep when idle (the machine is shared)."""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from focalcli.train.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
