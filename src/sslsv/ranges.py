"""Valid values of a number: :class:`Range` and the named ranges the config tables use.

The tables (which key of which config class takes which range) and the checks
of a resolved config live in :mod:`sslsv.config` beside the classes they name
(:data:`~sslsv.config.RANGES`, :func:`~sslsv.config.validate`); this module
imports nothing of ``sslsv``, so the configuration layer has no circle.

>>> 0 in POSITIVE, 1 in POSITIVE, str(UNIT)
(False, True, 'in [0, 1]')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """The valid values of a number: ``lo``/``hi`` bounds, each inclusive or not (``None``: unbounded)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "any number"


AT_LEAST_0, AT_LEAST_1, AT_LEAST_2 = Range(0), Range(1), Range(2)
POSITIVE = Range(0, lo_open=True)
UNIT = Range(0, 1)  # a probability or share
OPEN_UNIT = Range(0, 1, lo_open=True, hi_open=True)
