"""The four-colour warning levels and their CAP 1.2 severities.

>>> Level.parse("orange").cap_severity
'Severe'
>>> Level.RED > Level.YELLOW
True
>>> Level.parse("III").name_en
'yellow'
"""

from __future__ import annotations

from enum import IntEnum


class Level(IntEnum):
    """China's four-colour scheme: blue = IV = Minor ... red = I = Extreme."""

    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def name_en(self) -> str:
        return self.name.lower()

    @property
    def name_zh(self) -> str:
        return _ZH[self]

    @property
    def roman(self) -> str:
        return _ROMAN[self]

    @property
    def cap_severity(self) -> str:
        return _CAP[self]

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        """Accept ``"red"``, ``"I"``, ``"红色"``, ``4`` or a Level."""
        if isinstance(value, Level):
            return value
        if isinstance(value, int):
            return cls(value)
        text = str(value).strip()
        found = _BY_NAME.get(text) or _BY_NAME.get(text.lower())
        if found is not None:
            return found
        raise ValueError(f"unknown level {value!r}: use blue, yellow, orange or red")


_ZH = {Level.BLUE: "蓝色", Level.YELLOW: "黄色", Level.ORANGE: "橙色", Level.RED: "红色"}
_ROMAN = {Level.BLUE: "IV", Level.YELLOW: "III", Level.ORANGE: "II", Level.RED: "I"}
_CAP = {Level.BLUE: "Minor", Level.YELLOW: "Moderate", Level.ORANGE: "Severe", Level.RED: "Extreme"}

_BY_NAME = {name: level for level in Level for name in (level.name_en, level.roman, _ZH[level])}

LEVEL_NAMES = tuple(level.name_en for level in Level)
