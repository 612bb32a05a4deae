"""Overhead budget: header + framing + end marker <= 10 % of the payload at 10 s and 60 s."""

from __future__ import annotations

from pathlib import Path

import pytest
from fcs_testutil import load_script

overhead = load_script("overhead.py")


@pytest.mark.parametrize("seconds", [10, 60])
def test_default_overhead_within_ten_percent(seconds: int) -> None:
    summary = overhead.measure(seconds)
    assert summary.intact
    assert summary.payload_bytes == seconds * 50 * 12 / 8
    print(
        f"{seconds} s: {summary.total_bytes} B, overhead {summary.overhead_bytes:.0f} B "
        f"= {summary.overhead_percent:.2f} %"
    )
    assert summary.overhead_percent <= 10.0


def test_overhead_figures_are_what_the_spec_says() -> None:
    """docs/fcs-format.md quotes these numbers; keep them in step."""
    spec = (Path(__file__).parents[2] / "docs" / "fcs-format.md").read_text(encoding="utf-8")
    for seconds, expected in ((10, 73), (60, 138)):
        summary = overhead.measure(seconds)
        assert summary.overhead_bytes == expected
        assert f"{expected} B = **{summary.overhead_percent:.2f} %**" in spec


@pytest.mark.parametrize("seconds", [10, 60])
def test_version_2_overhead_of_the_bundled_model_within_ten_percent(seconds: int) -> None:
    """Version 2 headers carry 8 more bytes (the token space); focal-small stays in budget."""
    summary = overhead.measure(seconds, model_name="focal-small", token_space="d71ec875f10bf77f")
    assert summary.header.version == 2
    v1 = overhead.measure(seconds, model_name="focal-small")
    assert summary.overhead_bytes == v1.overhead_bytes + 8
    assert summary.overhead_percent <= 10.0
