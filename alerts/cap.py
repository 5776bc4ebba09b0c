"""CAP 1.2 messages (OASIS Common Alerting Protocol) and an Atom feed, built from an alert (pure).

An alert's messages come from its timeline: ``raised`` is the first message (msgType Alert),
each ``upgraded``/``downgraded`` an Update and ``resolved`` a Cancel; later messages reference
all earlier ones (``sender,identifier,sent``). Each message has an ``<info>`` per language
(zh-CN and en). Drill alerts are sent with status Exercise. Times are UTC with an explicit
``+00:00`` offset, as the CAP schema demands. CAP messages are public: every text element
(headline, description, event, area, parameters, note) and the Atom feed's titles and summaries are
masked with :func:`fenghuo.core.privacy.mask_pii`, so no mobile or resident ID number is published.

>>> cap_time(1579687200.5)
'2020-01-22T10:00:00+00:00'
>>> polygon_text([(1.0, 42.0), (2.0, 42.0), (2.0, 43.0)])
'42,1 42,2 43,2 42,1'
>>> circle_text((42.9051, 1.9372), 1.5)
'42.9051,1.9372 1.5'
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from fenghuo.alerts.cap_text import Texts, category, event_names, texts
from fenghuo.alerts.federation import ORIGIN_PARAM, cap_evidence, chain_text, origin_chain
from fenghuo.core.config import Node
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert
from fenghuo.core.privacy import mask_pii

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MIME = "application/cap+xml"
# a responder's public note (POST /v1/alerts/{id}/notes with public: true) is an Update carrying it in <note>;
# private notes are never published
MSG_TYPES = {"raised": "Alert", "upgraded": "Update", "downgraded": "Update", "note_public": "Update",
             "resolved": "Cancel"}
LANGUAGES = ("zh-CN", "en")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")
# elements whose text is an identifier, a time, a link or coordinates: never masked
_NOT_TEXT = frozenset(f"{{{CAP_NS}}}{tag}" for tag in ("identifier", "sender", "sent", "references", "incidents",
                                                       "polygon", "circle", "web", "valueName"))
_KEPT_VALUES = ("FENGHUO_ALERT_ID", "FENGHUO_ORIGIN")  # parameters whose value is an id or a chain: never masked
_VALUE = f"{{{CAP_NS}}}value"  # kept in the FENGHUO_ALERT_ID parameter
CAP_CATEGORIES = frozenset(("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
                            "CBRNE", "Other"))


def cap_time(ts: float) -> str:
    """Epoch seconds as CAP dateTime: whole seconds, explicit offset (``Z`` is not allowed)."""
    return datetime.fromtimestamp(int(ts), UTC).isoformat()


def _num(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def polygon_text(polygon: list[tuple[float, float]]) -> str:
    """A (lon, lat) ring as CAP wants it: ``lat,lon`` pairs, closed (first point repeated)."""
    points = list(polygon)
    if points[0] != points[-1]:
        points.append(points[0])
    return " ".join(f"{_num(lat)},{_num(lon)}" for lon, lat in points)


def circle_text(centroid: tuple[float, float], radius_km: float) -> str:
    """A (lat, lon) centre and radius as ``lat,lon radius_km``."""
    return f"{_num(centroid[0])},{_num(centroid[1])} {_num(radius_km)}"


@dataclass(frozen=True, slots=True)
class Area:
    """Where an alert applies: the grid's name in both languages and its polygon or centroid."""

    grid: str
    desc_zh: str
    desc_en: str
    polygon: list[tuple[float, float]] | None = None  # (lon, lat) as in the configuration
    centroid: tuple[float, float] | None = None  # (lat, lon)
    radius_km: float = 1.0


def area_of(grid: str, nodes: Mapping[str, Node], centroid: tuple[float, float] | None = None,
            radius_km: float = 1.0) -> Area:
    """The area of a grid from the grid registry (``GridTree.nodes`` and ``GridTree.centroid``)."""
    node = nodes.get(grid)
    if node is None:
        return Area(grid, grid, grid, centroid=centroid, radius_km=radius_km)
    polygon = list(node.polygon) if node.polygon and len(node.polygon) >= 3 else None
    return Area(grid, node.name, node.name_en or node.name, polygon, centroid or node.centroid, radius_km)


@dataclass(frozen=True, slots=True)
class Message:
    """One CAP message of an alert: its place in the sequence, type, time and level then."""

    seq: int  # 1-based
    identifier: str
    msg_type: str
    kind: str
    sent: float
    level: Level
    detail: str


def identifier(alert_id: str, seq: int, prefix: str = "fenghuo") -> str:
    """Unique per message; no spaces, commas or XML-special characters (CAP 1.2 3.2.1)."""
    return f"{prefix}.{_UNSAFE.sub('_', alert_id)}.{seq}"


def messages(alert: Alert, prefix: str = "fenghuo") -> list[Message]:
    """The CAP messages of an alert, oldest first (there is always at least the first one)."""
    out: list[Message] = []
    for entry in alert.timeline:
        msg_type = MSG_TYPES.get(entry.kind)
        if msg_type is None or (msg_type == "Alert" and out) or (out and out[-1].msg_type == "Cancel"):
            continue
        if not out and msg_type != "Alert":
            out.append(_first(alert, prefix))
        level = Level.parse(entry.level) if entry.level else alert.level
        seq = len(out) + 1
        out.append(Message(seq, identifier(alert.id, seq, prefix), msg_type, entry.kind, entry.ts, level,
                           entry.detail or ""))
    if not out:
        out.append(_first(alert, prefix))
    return out


def _first(alert: Alert, prefix: str) -> Message:
    return Message(1, identifier(alert.id, 1, prefix), "Alert", "raised", alert.created_at, alert.level, "")


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _info(root: ET.Element, alert: Alert, msg: Message, area: Area, lang: str, t: Texts, web: str | None) -> None:
    info = _sub(root, "info")
    _sub(info, "language", lang)
    cap = cap_evidence(alert)  # a warning from outside keeps the category and event its sender named
    kept = [c for c in (cap or {}).get("category") or [] if c in CAP_CATEGORIES]
    for cat in kept[:12] or [category(alert)]:
        _sub(info, "category", cat)
    _sub(info, "event", str(cap["event"])[:200] if cap and cap.get("event") else
         event_names(alert)[0 if lang == "zh-CN" else 1])
    _sub(info, "responseType", "AllClear" if msg.msg_type == "Cancel" else
         ("Prepare" if msg.level >= Level.ORANGE else "Monitor"))
    _sub(info, "urgency", urgency(alert, msg))
    _sub(info, "severity", msg.level.cap_severity)
    _sub(info, "certainty", str(alert.certainty))
    _sub(info, "senderName", t.sender_name)
    _sub(info, "headline", t.headline)
    _sub(info, "description", t.description)
    _sub(info, "instruction", t.instruction)
    if web:
        _sub(info, "web", web)
    origin = origin_chain(alert)  # a warning taken in from outside keeps its origin (alerts/federation.py)
    for name, value in (("FENGHUO_LEVEL", f"{msg.level.name_en} ({msg.level.roman})"),
                        ("FENGHUO_ALERT_ID", alert.id), ("FENGHUO_RISK", str(alert.risk)),
                        *([(ORIGIN_PARAM, chain_text(origin))] if origin else [])):
        p = _sub(info, "parameter")
        _sub(p, "valueName", name)
        _sub(p, "value", value)
    el = _sub(info, "area")
    _sub(el, "areaDesc", area.desc_zh if lang == "zh-CN" else area.desc_en)
    if area.polygon:
        _sub(el, "polygon", polygon_text(area.polygon))
    elif area.centroid:
        _sub(el, "circle", circle_text(area.centroid, area.radius_km))
    code = _sub(el, "geocode")
    _sub(code, "valueName", "FENGHUO_GRID")
    _sub(code, "value", area.grid)


def urgency(alert: Alert, msg: Message) -> str:
    """Past once cancelled; Expected when a forecast drove the alert; else Immediate."""
    if msg.msg_type == "Cancel":
        return "Past"
    forecast = any(ev.get("kind") == "forecast" or ev.get("detector") == "forecast" for ev in alert.evidence)
    return "Expected" if forecast else "Immediate"


def to_element(alert: Alert, index: int = -1, area: Area | None = None, sender: str = "fenghuo@localhost",
               web: str | None = None, prefix: str = "fenghuo") -> ET.Element:
    """The ``<alert>`` element of message ``index`` of the alert (default: the latest)."""
    msgs = messages(alert, prefix)
    msg = msgs[index]
    area = area or Area(alert.grid, alert.grid, alert.grid)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", msg.identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(msg.sent))
    _sub(root, "status", "Exercise" if alert.drill else "Actual")
    _sub(root, "msgType", msg.msg_type)
    _sub(root, "scope", "Public")
    notes = [f"演练 drill: {alert.drill}"] if alert.drill else []
    if msg.kind == "note_public" and msg.detail:
        notes.append(f"处置说明 responder note: {msg.detail}")
    if notes:
        _sub(root, "note", " | ".join(notes))
    earlier = msgs[: msg.seq - 1]
    if earlier:
        _sub(root, "references", " ".join(f"{sender},{m.identifier},{cap_time(m.sent)}" for m in earlier))
    joined = [e.actor for e in alert.timeline if e.kind == "incident_joined" and e.actor and e.ts <= msg.sent]
    _sub(root, "incidents", " ".join(_UNSAFE.sub("_", x) for x in [alert.id, *joined[:1]]))
    for lang in LANGUAGES:
        _info(root, alert, msg, area, lang, texts(alert, msg.msg_type, msg.kind, msg.level, msg.detail, area.desc_zh
                                                  if lang == "zh-CN" else area.desc_en, lang), web)
    return mask_element(root)


def mask_element(root: ET.Element) -> ET.Element:
    """Mask mobile and resident ID numbers in every text of a CAP element but ids, times, links and shapes.

    >>> el = ET.Element(f"{{{CAP_NS}}}info")
    >>> _ = _sub(el, "headline", "投诉人13812345678")
    >>> _ = _sub(el, "web", "http://b/13812345678")
    >>> [e.text for e in mask_element(el)]
    ['投诉人138****5678', 'http://b/13812345678']
    """
    for parent in root.iter():
        is_id = parent.findtext(f"{{{CAP_NS}}}valueName") in _KEPT_VALUES
        for el in parent:
            if el.text and el.tag not in _NOT_TEXT and not (is_id and el.tag == _VALUE):
                el.text = mask_pii(el.text)
    return root


def to_xml(alert: Alert, index: int = -1, area: Area | None = None, sender: str = "fenghuo@localhost",
           web: str | None = None, prefix: str = "fenghuo") -> bytes:
    """Message ``index`` of the alert as a CAP 1.2 XML document (UTF-8)."""
    root = to_element(alert, index, area, sender, web, prefix)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True, default_namespace=CAP_NS)


def _atom(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)  # no prefix: the root's xmlns puts them in the Atom namespace
    if text is not None:
        el.text = text
    return el


def atom_feed(alerts: Iterable[Alert], feed_url: str, cap_url: Callable[[Alert], str],
              area: Callable[[Alert], Area] | None = None, updated: float | None = None,
              sender: str = "fenghuo@localhost", title: str = "烽火 fenghuo — CAP 1.2 alerts") -> bytes:
    """An Atom feed with one entry per alert, linking to its latest CAP message."""
    items = list(alerts)
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _atom(feed, "id", feed_url)
    _atom(feed, "title", title)
    stamps = [messages(a)[-1].sent for a in items]
    _atom(feed, "updated", cap_time(updated if updated is not None else max(stamps, default=0.0)))
    _atom(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    _atom(_atom(feed, "author"), "name", sender)
    for a, sent in zip(items, stamps, strict=True):
        msg = messages(a)[-1]
        ar = area(a) if area else Area(a.grid, a.grid, a.grid)
        zh = texts(a, msg.msg_type, msg.kind, msg.level, msg.detail, ar.desc_zh, "zh-CN")
        en = texts(a, msg.msg_type, msg.kind, msg.level, msg.detail, ar.desc_en, "en")
        entry = _atom(feed, "entry")
        _atom(entry, "id", f"urn:fenghuo:cap:{msg.identifier}")
        _atom(entry, "title", mask_pii(f"{zh.headline} / {en.headline}"))
        _atom(entry, "updated", cap_time(sent))
        _atom(entry, "published", cap_time(a.created_at))
        _atom(entry, "link", rel="alternate", type=CAP_MIME, href=cap_url(a))
        _atom(entry, "category", term=msg.level.cap_severity, label=f"{msg.level.name_zh} {msg.level.name_en}")
        _atom(entry, "summary", mask_pii(f"{zh.description}\n{en.description}"))
    return ET.tostring(feed, encoding="UTF-8", xml_declaration=True)
