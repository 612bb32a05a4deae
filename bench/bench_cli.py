"""Speed of the focal command line on a folder, and the .fcs overhead on real files.

Prints: `focal --help` and `focal info` wall time (median of 5); encode and decode speed in
times real time for the folder with -j 1 and -j 2; the .fcs overhead (header + framing, in %
of the token payload) per file length.

    python bench/bench_cli.py                      # the dev split of ../shared, bundled model
    python bench/bench_cli.py --model DIR --limit 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
FOCAL = [sys.executable, "-m", "focalcli"]


def dev_files(limit: int | None) -> list[Path]:
    rows = (SHARED / "manifest.tsv").read_text().splitlines()
    files = [SHARED / r.split("\t")[0] for r in rows if r.split("\t")[1:2] == ["dev"]]
    return files[:limit] if limit else files


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model for --model (default: the bundled one)")
    ap.add_argument("--limit", type=int, help="only the first N dev files")
    args = ap.parse_args()
    model = ["--model", args.model] if args.model else []
    files = dev_files(args.limit)
    seconds = sum(sf.info(str(f)).duration for f in files)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "dev"
        src.mkdir()
        for f in files:
            shutil.copy(f, src / f.name)
        print(f"{len(files)} files, {seconds:.1f} s of audio")

        for jobs in (1, 2):
            out, back = tmp / f"fcs{jobs}", tmp / f"wav{jobs}"
            enc = timed([*FOCAL, "encode", str(src), "-d", str(out), "-j", str(jobs), "-q",
                         *model])
            dec = timed([*FOCAL, "decode", str(out), "-d", str(back), "-j", str(jobs), "-q",
                         *model])
            print(f"-j {jobs}: encode {seconds / enc:.1f}x real time ({enc:.1f} s), "
                  f"decode {seconds / dec:.1f}x real time ({dec:.1f} s)")

        coded = sorted((tmp / "fcs1").rglob("*.fcs"))
        helps = [timed([*FOCAL, "--help"]) for _ in range(5)]
        infos = [timed([*FOCAL, "info", str(coded[0])]) for _ in range(5)]
        print(f"focal --help {statistics.median(helps):.3f} s, focal info "
              f"{statistics.median(infos):.3f} s (median of 5, python -m focalcli)")

        rows = []
        for fcs in coded:
            info = json.loads(subprocess.run([*FOCAL, "info", "--json", str(fcs)], check=True,
                                             capture_output=True, text=True).stdout)
            info = info[0] if isinstance(info, list) else info
            rows.append((info["duration"], info["overhead_percent"], info["bytes"]))
        long = [r for r in rows if r[0] >= 10]
        print(f"overhead: all {len(rows)} files mean {statistics.mean(r[1] for r in rows):.2f} %, "
              f"max {max(r[1] for r in rows):.2f} %; files >= 10 s ({len(long)}): max "
              f"{max((r[1] for r in long), default=float('nan')):.2f} %")
        total_bytes = sum(r[2] for r in rows)
        print(f"total {total_bytes} bytes for {seconds:.1f} s = "
              f"{8 * total_bytes / seconds / 1000:.3f} kbit/s")


if __name__ == "__main__":
    main()
