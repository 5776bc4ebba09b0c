"""Federation of fenghuo instances over CAP: an alert keeps its origin, and nothing is echoed back.

A city subscribes to its districts' CAP feeds and a district to its neighbours' (``warnings.sources``, polled
by :mod:`fenghuo.ingest.cap_poll`). A warning taken in from outside becomes an alert here, and this
instance's own feed re-publishes it under its own ``<sender>``; so that the receivers can tell where it
started, every message of such an alert carries its origin chain in a ``<parameter>`` named
``FENGHUO_ORIGIN``: the ``sender,identifier,sent`` of the original message and of every instance it passed
through, oldest first, space separated (the form of CAP ``<references>``; CAP 1.2 keeps ``<references>``
for earlier messages of the same alert, so the chain travels as a parameter).

An instance refuses a message (outcome ``ignored_loop``: recorded, not dead-lettered) when its sender is
this instance's own ``warnings.sender``, or when its references or its origin chain name a message this
instance sent: that is its own warning coming back round.

>>> own = "fenghuo@district-b"
>>> chain_text([("fenghuo@district-a", "fenghuo.a1.1", "2026-01-01T00:00:00+00:00")])
'fenghuo@district-a,fenghuo.a1.1,2026-01-01T00:00:00+00:00'
>>> parse_chain("fenghuo@district-a,fenghuo.a1.1,2026-01-01T00:00:00+00:00 junk")
[('fenghuo@district-a', 'fenghuo.a1.1', '2026-01-01T00:00:00+00:00')]
>>> loop_reason("fenghuo@district-b", [], [], own)
'sent by this instance (fenghuo@district-b)'
>>> loop_reason("fenghuo@district-a", [], [("fenghuo@district-b", "fenghuo.x.1", "")], own)
'its origin chain holds a message this instance sent (fenghuo@district-b,fenghuo.x.1)'
>>> loop_reason("fenghuo@district-a", [], [], own) is None
True
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from fenghuo.core.models import Alert

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ORIGIN_PARAM = "FENGHUO_ORIGIN"
MAX_CHAIN = 16  # hops kept in a chain: a longer one is cut at its oldest end (the original stays first)
MAX_PART = 300  # characters of a sender or identifier kept

Link = tuple[str, str, str]  # (sender, identifier, sent as CAP writes it)


def _clean(part: str) -> str:
    return "".join(c for c in part if not c.isspace() and c != ",")[:MAX_PART]


def chain_text(chain: Sequence[Link]) -> str:
    """A chain as CAP ``references`` write it: ``sender,identifier,sent`` triples separated by spaces."""
    return " ".join(",".join(_clean(p) for p in link) for link in _bounded(chain))


def parse_chain(text: str | None) -> list[Link]:
    """The links of a chain's text; malformed triples are skipped (a parameter is free text)."""
    out: list[Link] = []
    for part in (text or "").split():
        bits = part.split(",")
        if len(bits) == 3 and bits[0] and bits[1]:
            out.append((bits[0][:MAX_PART], bits[1][:MAX_PART], bits[2][:MAX_PART]))
    return _bounded(out)


def _bounded(chain: Sequence[Link]) -> list[Link]:
    links = list(chain)
    return links if len(links) <= MAX_CHAIN else [links[0], *links[-(MAX_CHAIN - 1):]]


def chain_in_xml(raw: bytes) -> list[Link]:
    """The origin chain a CAP message carries (its ``FENGHUO_ORIGIN`` parameter; the first info that has one).

    >>> xml = (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><info><parameter><valueName>FENGHUO_ORIGIN'
    ...        b'</valueName><value>a@x,id1,2026-01-01T00:00:00+00:00</value></parameter></info></alert>')
    >>> chain_in_xml(xml)
    [('a@x', 'id1', '2026-01-01T00:00:00+00:00')]
    >>> chain_in_xml(b"not xml")
    []
    """
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        return []
    for param in root.iter(f"{{{CAP_NS}}}parameter"):
        if (param.findtext(f"{{{CAP_NS}}}valueName") or "").strip() == ORIGIN_PARAM:
            return parse_chain(param.findtext(f"{{{CAP_NS}}}value"))
    return []


def loop_reason(sender: str, references: Iterable[tuple[str, str, Any]], chain: Iterable[Link],
                own_sender: str | Iterable[str]) -> str | None:
    """Why a message is this instance's own coming back (``None``: it is not).

    ``references`` and ``chain`` are ``(sender, identifier, sent)``; a message is an echo when it is sent by
    ``own_sender`` (or any of several names this instance sends as) or names a message it sent.
    """
    names = [own_sender] if isinstance(own_sender, str) else list(own_sender)
    own = {n.strip().lower() for n in names if n and n.strip()}
    if not own:
        return None
    if sender.strip().lower() in own:
        return f"sent by this instance ({sender})"
    for what, links in (("references", references), ("origin chain", chain)):
        for link in links:
            if str(link[0]).strip().lower() in own:
                return f"its {what} holds a message this instance sent ({link[0]},{link[1]})"
    return None


def echo_reason(alert: Any, own_sender: str | Iterable[str]) -> str | None:
    """:func:`loop_reason` for a parsed CAP alert (:class:`fenghuo.ingest.cap_in.CapAlert`: its sender,
    references and the origin chain in its raw XML)."""
    return loop_reason(alert.sender, alert.references, chain_in_xml(alert.raw), own_sender)


def message_chain(alert: Any) -> list[list[str]]:
    """The origin chain an alert made from a parsed CAP message (:class:`fenghuo.ingest.cap_in.CapAlert`) keeps in
    its evidence (``cap["chain"]``), so that its re-publication carries it on: the chain the message came with,
    then the message itself."""
    sent = datetime.fromtimestamp(int(alert.sent), UTC).isoformat()
    return [list(link) for link in _bounded([*chain_in_xml(alert.raw), (alert.sender, alert.identifier, sent)])]


def cap_evidence(alert: Alert) -> dict[str, Any] | None:
    """The CAP details of an alert taken in from outside (``evidence[i]["cap"]``), ``None`` for a local one."""
    for ev in alert.evidence:
        cap = ev.get("cap") if isinstance(ev, dict) else None
        if isinstance(cap, dict) and cap.get("sender") and cap.get("identifier"):
            return cap
    return None


def origin_chain(alert: Alert) -> list[Link]:
    """The origin chain an export of this alert carries: empty for a local alert; for an external warning the
    chain it came with (``cap["chain"]``) or else its original ``sender,identifier,sent``."""
    cap = cap_evidence(alert)
    if cap is None:
        return []
    chain = [tuple(str(x) for x in link) for link in cap.get("chain") or [] if len(link) == 3]
    if chain:
        return _bounded([(a, b, c) for a, b, c in chain])
    sent = cap.get("sent")
    if isinstance(sent, int | float):
        sent = datetime.fromtimestamp(int(sent), UTC).isoformat()
    return [(str(cap["sender"]), str(cap["identifier"]), str(sent or ""))]
