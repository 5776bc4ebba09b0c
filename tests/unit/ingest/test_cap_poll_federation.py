"""Federation over CAP: a warning taken in from outside is re-published with its origin (valid CAP 1.2), and a
message that comes back round (sent here, or naming a message sent here in its references or origin chain) is an
echo; one from a third party is not."""

from __future__ import annotations

from fenghuo.alerts.cap import Area, messages, to_xml
from fenghuo.alerts.federation import ORIGIN_PARAM, echo_reason, message_chain, origin_chain
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, TimelineEntry
from fenghuo.ingest.cap_in import parse_cap
from tests.alerts_support import T0, make_alert, valid

CITY, DISTRICT_A, DISTRICT_B = "fenghuo@city.example", "fenghuo@district-a.example", "fenghuo@district-b.example"
AREA = Area("C-RIVER", "沿江社区", "Riverside", centroid=(23.01, 113.02), radius_km=1.5)
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


def taken_from(sender: str, identifier: str, chain: list[list[str]] | None = None) -> Alert:
    """An alert as the warning intake makes it from a message of ``sender`` (its ``cap`` evidence)."""
    a = make_alert(Level.RED, feed="warning")
    a.evidence = [{"cap": {"sender": sender, "identifier": identifier, "sent": T0, "event": "洪水红色预警",
                           "origin": "upstream", **({"chain": chain} if chain else {})}}]
    return a


def origin_value(xml: bytes) -> list[str]:
    root = valid(xml)
    return [p.findtext("cap:value", namespaces=NS) or "" for p in root.iterfind(".//cap:parameter", NS)
            if p.findtext("cap:valueName", namespaces=NS) == ORIGIN_PARAM]


def test_a_warning_from_outside_is_republished_as_ours_with_its_origin_in_every_message() -> None:
    a = taken_from(DISTRICT_A, "fenghuo.a1.1")
    a.add(TimelineEntry(T0 + 600, "resolved", "red", "cap:" + DISTRICT_A, None, "cancelled by the sender"))
    for i in range(len(messages(a))):  # the Alert and the Cancel
        xml = to_xml(a, i, AREA, DISTRICT_B)
        root = valid(xml)
        assert root.findtext("cap:sender", namespaces=NS) == DISTRICT_B
        assert origin_value(xml) == [f"{DISTRICT_A},fenghuo.a1.1,2020-01-22T00:00:00+00:00"] * 2  # zh-CN and en
        assert {e.text for e in root.iterfind(".//cap:event", NS)} == {"洪水红色预警"}  # the sender's own event
    assert origin_value(to_xml(make_alert(), -1, AREA, DISTRICT_B)) == []  # a local alert has no origin
    epidemic = taken_from("health@wjw.example", "hc-7")
    epidemic.evidence[0]["cap"]["category"] = ["Health"]
    root = valid(to_xml(epidemic, -1, AREA, DISTRICT_B))
    assert {e.text for e in root.iterfind(".//cap:category", NS)} == {"Health"}  # not re-guessed from the metric


def test_an_echo_is_refused_by_sender_by_origin_chain_and_by_references_but_a_third_party_is_not() -> None:
    # district A -> district B -> the city: the city re-publishes with the chain A, B; both districts see their own
    first = parse_cap(to_xml(taken_from("fenghuo@weather.example", "w-1"), -1, AREA, DISTRICT_A))[0]
    at_b = taken_from(DISTRICT_A, first.identifier, chain=message_chain(first))
    second = parse_cap(to_xml(at_b, -1, AREA, DISTRICT_B))[0]
    at_city = taken_from(DISTRICT_B, second.identifier, chain=message_chain(second))
    assert [link[0] for link in origin_chain(at_city)] == ["fenghuo@weather.example", DISTRICT_A, DISTRICT_B]
    from_city = parse_cap(to_xml(at_city, -1, AREA, CITY))[0]
    assert echo_reason(from_city, CITY) == f"sent by this instance ({CITY})"
    assert "origin chain" in (echo_reason(from_city, DISTRICT_A) or "")
    assert "origin chain" in (echo_reason(from_city, [DISTRICT_B, "fenghuo@localhost"]) or "")
    assert echo_reason(from_city, "fenghuo@district-c.example") is None  # a fourth instance takes it

    local = make_alert(Level.RED)  # B's own alert, cancelled: the Cancel references B's first message
    local.add(TimelineEntry(T0 + 60, "resolved", "red", "ops", None, ""))
    cancel = parse_cap(to_xml(local, -1, AREA, DISTRICT_B))[0]
    forwarded = cancel.__class__(**{**cancel.__dict__, "sender": CITY})  # relayed by the city as it came
    assert "references" in (echo_reason(forwarded, DISTRICT_B) or "")
