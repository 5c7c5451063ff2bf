"""A benchmark's result row (metric, ours, reference, ratio, target, pass/fail) and its formatting."""

from dataclasses import dataclass


@dataclass
class Row:
    metric: str
    ours: str
    reference: str
    ratio: float | None
    target: str
    passed: bool | None

    def cells(self) -> list:
        verdict = "—" if self.passed is None else ("pass" if self.passed else "FAIL")
        ratio = "—" if self.ratio is None else f"{self.ratio:.3f}"
        return [self.metric, self.ours, self.reference, ratio, self.target, verdict]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def time_row(metric: str, ours: float, reference: float, limit: float) -> Row:
    """Our time against a reference time (seconds); passes when their ratio is at most `limit`."""
    ratio = ours / reference
    return Row(metric, ms(ours), ms(reference), ratio, f"≤ {limit:g}", ratio <= limit)
