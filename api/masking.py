"""What roles below analyst see of complaint and opinion text: phone and resident ID numbers masked.

Alerts carry such text in their evidence (the complaints that raised them), their timeline details and
notes; the board's stream carries alerts too. Analysts and admins see them whole.

>>> mask_alert({"id": "a1", "evidence": [{"text": "call 13812345678"}], "timeline": []})["evidence"]
[{'text': 'call 138****5678'}]
"""

from __future__ import annotations

from typing import Any

from fenghuo.core.privacy import mask_doc

TEXT_PARTS = ("evidence", "timeline", "title", "notifications")
# a complaint's category (and a caller's line as its source) end up in these: masked for text feeds
NAME_PARTS = ("source", "series", "fingerprint")
TEXT_FEEDS = ("complaint", "opinion")
# copied as they are inside the masked parts: who or what acted on an alert (a timeline's "actor": "threshold", a
# key's name, "silence:<id>"). A random hex id can look like a mobile number (11 digits from 13-19, about 1 id in
# 50): masked, "silence:158****6679b4684" no longer named the silence that muted the alert. (Event ids in the
# evidence come from clients and stay masked.)
ID_KEYS = frozenset({"actor"})


def mask_alert(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of an alert's JSON with the parts that may hold personal text masked (not who acted).

    >>> mask_alert({"feed": "complaint", "series": "G1/噪音(来电13812345678)", "title": {"en": "x"}})["series"]
    'G1/噪音(来电138****5678)'
    >>> mask_alert({"timeline": [{"actor": "silence:15812345678b4684", "detail": "call 13812345678"}]})["timeline"]
    [{'actor': 'silence:15812345678b4684', 'detail': 'call 138****5678'}]
    """
    parts = TEXT_PARTS + NAME_PARTS if doc.get("feed") in TEXT_FEEDS else TEXT_PARTS
    return {k: mask_doc(v, ID_KEYS) if k in parts else v for k, v in doc.items()}


def mask_message(msg: dict[str, Any]) -> dict[str, Any]:
    """A stream message (``{"type", "alert"}``) with its alert masked."""
    alert = msg.get("alert")
    return {**msg, "alert": mask_alert(alert)} if isinstance(alert, dict) else mask_doc(msg)
