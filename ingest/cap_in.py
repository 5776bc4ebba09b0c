"""CAP 1.2 messages in: parse and validate one ``<alert>`` or a batch of them into :class:`CapAlert`.

The XML is read safely (lxml without network access, entity expansion or huge trees; a DOCTYPE is refused),
bounded in bytes, elements and alerts, and every ``<alert>`` is validated against the OASIS CAP 1.2 schema
(shipped with the package as ``ingest/static/CAP-v1.2-schema.xsd``, with its OASIS copyright notice). A batch is
a document holding several alerts: a wrapper element, or an Atom/RSS feed whose entries embed CAP. Geometry the
schema leaves as text (polygons, circles) is checked here too: a ring of at least four points that closes,
coordinates on the globe.

>>> a = parse_cap(EXAMPLE)[0]
>>> a.key, a.msg_type, a.infos[0].severity, a.infos[0].areas[0].circles
(('w@example.org', 'X-1'), 'Alert', 'Severe', [(23.1, 113.3, 2.0)])
>>> parse_cap(b"not xml")
Traceback (most recent call last):
...
fenghuo.ingest.cap_in.CapError: not well-formed XML: Start tag expected, '<' not found, line 1, column 1
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_BYTES = 1_000_000  # one document (a POST body, a polled feed)
MAX_ELEMENTS = 50_000  # in one document
MAX_ALERTS = 200  # in one batch
MAX_POINTS = 2_000  # in one polygon
MAX_RADIUS_KM = 2_000.0
MIN_TS, MAX_TS = 0.0, 7_258_118_400.0  # 1970-01-01 .. 2200-01-01: the times a warning may give
MAX_ID = 256  # characters of an identifier or a sender
MAX_REFERENCES = 100
MAX_DEAD_BYTES = 20_000  # of a bad alert's XML kept with its reason
XSD = Path(__file__).resolve().parent / "static" / "CAP-v1.2-schema.xsd"
EXAMPLE = b"""<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>X-1</identifier>
<sender>w@example.org</sender><sent>2026-06-01T08:00:00+08:00</sent><status>Actual</status>
<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category><event>rainstorm</event>
<urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty><area><areaDesc>x</areaDesc>
<circle>23.1,113.3 2</circle></area></info></alert>"""


class CapError(ValueError):
    """A message that cannot be taken: ``str(e)`` is the reason (kept in the dead-letter store). ``key``: the
    (sender, identifier) it gave, when it gave them; ``raw``: its XML (bounded), for the dead-letter store."""

    def __init__(self, reason: object, key: tuple[str, str] | None = None, raw: bytes = b"") -> None:
        super().__init__(str(reason))
        self.key, self.raw = key, raw


@dataclass(frozen=True)
class CapArea:
    desc: str
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)  # (lat, lon), as CAP writes them
    circles: list[tuple[float, float, float]] = field(default_factory=list)  # lat, lon, radius km
    geocodes: list[tuple[str, str]] = field(default_factory=list)  # (valueName, value)


@dataclass(frozen=True)
class CapInfo:
    language: str
    category: list[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str | None
    description: str | None
    effective: float | None
    onset: float | None
    expires: float | None
    sender_name: str | None
    areas: list[CapArea]
    event_codes: list[tuple[str, str]] = field(default_factory=list)  # <eventCode>: (valueName, value)


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: float
    status: str  # Actual | Exercise | System | Test | Draft
    msg_type: str  # Alert | Update | Cancel | Ack | Error
    scope: str
    references: list[tuple[str, str, float]]  # (sender, identifier, sent)
    infos: list[CapInfo]
    raw: bytes  # the original <alert> element, as XML

    @property
    def key(self) -> tuple[str, str]:
        """(sender, identifier): what makes a message the same message (CAP 1.2, 3.2.1)."""
        return (self.sender, self.identifier)


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, read once (from the package: no network)."""
    return etree.XMLSchema(etree.parse(str(XSD), _parser()))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           dtd_validation=False, remove_comments=True, remove_pis=True, collect_ids=False)


def _read(xml: bytes) -> etree._Element:
    if not isinstance(xml, bytes | bytearray):
        raise CapError("a CAP document is bytes")
    if len(xml) > MAX_BYTES:
        raise CapError(f"document of {len(xml)} bytes is larger than {MAX_BYTES}")
    if not xml.strip():
        raise CapError("empty document")
    try:
        root = etree.fromstring(bytes(xml), _parser())
    except etree.XMLSyntaxError as exc:
        raise CapError(f"not well-formed XML: {str(exc.msg)[:160]}") from None
    if root is None:
        raise CapError("empty document")
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise CapError("a DOCTYPE is not allowed in a CAP document")
    n = 0
    for _ in root.iter():
        n += 1
        if n > MAX_ELEMENTS:
            raise CapError(f"document has more than {MAX_ELEMENTS} elements")
    return root


def _alert_elements(root: etree._Element) -> list[etree._Element]:
    tag = f"{{{CAP_NS}}}alert"
    if root.tag == tag:
        return [root]
    found = list(root.iter(tag))
    if not found:
        raise CapError("no CAP 1.2 <alert> (namespace urn:oasis:names:tc:emergency:cap:1.2) in the document")
    if len(found) > MAX_ALERTS:
        raise CapError(f"batch of {len(found)} alerts is larger than {MAX_ALERTS}")
    return found


def parse_cap(xml: bytes) -> list[CapAlert]:
    """Every alert of the document; CapError (for the whole document) when any is not valid."""
    items = parse_cap_each(xml)
    out: list[CapAlert] = []
    for i, item in enumerate(items):
        if isinstance(item, CapError):
            raise item if len(items) == 1 else CapError(f"alert {i + 1}: {item}", item.key, item.raw)
        out.append(item)
    return out


def parse_cap_each(xml: bytes) -> list[CapAlert | CapError]:
    """One result per alert of the document, a bad one as its CapError; CapError when the document itself
    cannot be read (not XML, too big, no alert in it)."""
    root = _read(xml)
    out: list[CapAlert | CapError] = []
    for el in _alert_elements(root):
        try:
            out.append(_alert(el))
        except CapError as exc:
            sender, identifier = _text(el, "sender")[:200], _text(el, "identifier")[:200]
            out.append(CapError(exc, (sender, identifier) if sender and identifier else None,
                                etree.tostring(el)[:MAX_DEAD_BYTES]))
    return out


def _alert(el: etree._Element) -> CapAlert:
    own = copy.deepcopy(el)  # as its own document: validated and kept alone
    etree.cleanup_namespaces(own)
    xsd = schema()
    if not xsd.validate(own):
        errors = [f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:3]]
        raise CapError("not valid CAP 1.2: " + "; ".join(errors)[:400])
    sent = _time(_text(own, "sent"), "sent")
    assert sent is not None
    for name in ("identifier", "sender"):
        value = _text(own, name)
        if not value or len(value) > MAX_ID or any(c.isspace() or c in ",<&" for c in value):
            raise CapError(f"{name}: 1 to {MAX_ID} characters without spaces, commas, < or & (CAP 1.2, 3.2.1)")
    return CapAlert(identifier=_text(own, "identifier"), sender=_text(own, "sender"), sent=sent,
                    status=_text(own, "status"), msg_type=_text(own, "msgType"), scope=_text(own, "scope"),
                    references=_references(_opt(own, "references")),
                    infos=[_info(i) for i in own.findall(f"{{{CAP_NS}}}info")], raw=etree.tostring(own))


def _info(el: etree._Element) -> CapInfo:
    return CapInfo(language=_opt(el, "language") or "en-US",
                   category=[(c.text or "").strip() for c in el.findall(f"{{{CAP_NS}}}category")],
                   event=_text(el, "event"), urgency=_text(el, "urgency"), severity=_text(el, "severity"),
                   certainty=_text(el, "certainty"), headline=_opt(el, "headline"),
                   description=_opt(el, "description"), effective=_time(_opt(el, "effective"), "effective"),
                   onset=_time(_opt(el, "onset"), "onset"), expires=_time(_opt(el, "expires"), "expires"),
                   sender_name=_opt(el, "senderName"), areas=[_area(a) for a in el.findall(f"{{{CAP_NS}}}area")],
                   event_codes=[(_text(c, "valueName")[:64], _text(c, "value")[:200])
                                for c in el.findall(f"{{{CAP_NS}}}eventCode")][:20])


def _area(el: etree._Element) -> CapArea:
    geocodes = []
    for g in el.findall(f"{{{CAP_NS}}}geocode"):
        geocodes.append((_text(g, "valueName"), _text(g, "value")))
    return CapArea(desc=_text(el, "areaDesc"),
                   polygons=[_polygon(p.text or "") for p in el.findall(f"{{{CAP_NS}}}polygon")],
                   circles=[_circle(c.text or "") for c in el.findall(f"{{{CAP_NS}}}circle")], geocodes=geocodes)


def _point(text: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise CapError(f"not a point 'lat,lon': {text[:40]!r}") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapError(f"point off the globe: {text[:40]!r}")
    return (lat, lon)


def _polygon(text: str) -> list[tuple[float, float]]:
    parts = text.split()
    if len(parts) > MAX_POINTS:
        raise CapError(f"polygon of {len(parts)} points is larger than {MAX_POINTS}")
    points = [_point(p) for p in parts]
    if len(points) < 4 or points[0] != points[-1]:
        raise CapError("a polygon needs at least four points, the first and last the same (CAP 1.2, 3.3.5.1)")
    return points


def _circle(text: str) -> tuple[float, float, float]:
    parts = text.split()
    if len(parts) != 2:
        raise CapError(f"not a circle 'lat,lon radius': {text[:40]!r}")
    lat, lon = _point(parts[0])
    try:
        radius = float(parts[1])
    except ValueError:
        raise CapError(f"not a radius in km: {parts[1][:20]!r}") from None
    if not (math.isfinite(radius) and 0 <= radius <= MAX_RADIUS_KM):
        raise CapError(f"radius {parts[1][:20]} km is not between 0 and {MAX_RADIUS_KM:g}")
    return (lat, lon, radius)


def _references(text: str | None) -> list[tuple[str, str, float]]:
    out = []
    parts = (text or "").split()
    if len(parts) > MAX_REFERENCES:
        raise CapError(f"more than {MAX_REFERENCES} references")
    for part in parts:
        bits = part.split(",")
        if len(bits) != 3:
            raise CapError(f"a reference is 'sender,identifier,sent': {part[:80]!r}")
        sent = _time(bits[2], "references sent")
        assert sent is not None
        out.append((bits[0], bits[1], sent))
    return out


def _time(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.strip())
        if dt.tzinfo is None:
            raise CapError(f"{name}: a CAP time needs its offset: {text[:40]!r}")
        ts = dt.timestamp()
        if not MIN_TS <= ts <= MAX_TS:
            raise CapError(f"{name}: {text[:40]!r} is not between 1970 and 2200")
        return ts
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, CapError):
            raise
        raise CapError(f"{name}: not a CAP time: {text[:40]!r}") from None


def _opt(el: etree._Element, name: str) -> str | None:
    child = el.find(f"{{{CAP_NS}}}{name}")
    if child is None or child.text is None:
        return None
    return child.text.strip()[:4000]


def _text(el: etree._Element, name: str) -> str:
    return _opt(el, name) or ""
