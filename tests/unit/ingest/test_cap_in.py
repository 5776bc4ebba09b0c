"""Reading CAP 1.2 messages: real-shaped warnings parse into what the lifecycle needs; batches give one result per
alert; what is not valid CAP, not XML, too big or hostile (entities) is refused with a reason a sender can act on."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from fenghuo.ingest import cap_in
from fenghuo.ingest.cap_in import CapAlert, CapError, parse_cap, parse_cap_each

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cap"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def inner(xml: bytes) -> bytes:
    """The <alert> element of a fixture without its XML declaration (to embed it in a batch)."""
    return xml[xml.index(b"<alert"):]


def test_a_red_rain_flood_warning_reads_with_its_infos_polygon_and_times() -> None:
    [a] = parse_cap(fixture("gloria-red-rain.xml"))
    assert a.key == ("vigilance@meteo.example.fr", "2.49.0.0.250.0.FR.20200122050000.RED.PLUIE-INOND")
    assert (a.status, a.msg_type, a.scope, a.sent) == ("Actual", "Alert", "Public", ts("2020-01-22T06:00:00+01:00"))
    fr, zh = a.infos
    assert (fr.language, fr.category, fr.event, fr.severity, fr.urgency, fr.certainty) == (
        "fr-FR", ["Met"], "Pluie-inondation", "Extreme", "Immediate", "Likely")
    assert fr.expires == ts("2020-01-23T06:00:00+01:00") and fr.sender_name == "Meteo-France"
    assert fr.event_codes == [("MFVIGI", "rain-flood")]
    assert zh.headline == "暴雨洪涝红色预警：奥德省、东比利牛斯省"
    assert zh.areas[0].polygons == [[(42.35, 2.1), (42.35, 3.1), (43.28, 3.1), (43.28, 2.1), (42.35, 2.1)]]
    assert a.raw.startswith(b"<alert") and b"Gloria" in a.raw


def test_a_cancel_lists_its_references_and_a_geocode_and_a_circle_read_as_written() -> None:
    [cancel] = parse_cap(fixture("gloria-cancel.xml"))
    assert cancel.infos == [] and [r[1] for r in cancel.references] == [
        "2.49.0.0.250.0.FR.20200122050000.RED.PLUIE-INOND", "2.49.0.0.250.0.FR.20200122160000.ORANGE.PLUIE-INOND"]
    assert cancel.references[0] == ("vigilance@meteo.example.fr", "2.49.0.0.250.0.FR.20200122050000.RED.PLUIE-INOND",
                                    ts("2020-01-22T06:00:00+01:00"))
    [flu] = parse_cap(fixture("boston-flu-geocode.xml"))
    assert flu.infos[0].areas[0].geocodes == [("SAME", "025025")]
    [gas] = parse_cap(fixture("back-bay-gas-circle.xml"))
    assert gas.infos[0].areas[0].circles == [(42.3499, -71.0774, 0.5)] and gas.infos[0].category == ["CBRNE", "Safety"]


def test_a_batch_in_a_wrapper_or_an_atom_feed_gives_one_result_per_alert_the_bad_one_with_its_reason() -> None:
    good, bad = inner(fixture("gloria-red-rain.xml")), inner(fixture("invalid-msgtype.xml"))
    wrapped = b"<batch>" + good + bad + b"</batch>"
    items = parse_cap_each(wrapped)
    assert isinstance(items[0], CapAlert) and isinstance(items[1], CapError)
    assert "msgType" in str(items[1]) and items[1].key == ("dispatch@bfd.example.org", "BFD-2015-03-04-BAD-1")
    assert b"BFD-2015-03-04-BAD-1" in items[1].raw
    with pytest.raises(CapError, match="^alert 2: not valid CAP 1.2"):
        parse_cap(wrapped)
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>vigilance</title>'
            b"<entry><title>a</title><content type=\"text/xml\">" + good + b"</content></entry>"
            b"<entry><title>b</title><content type=\"text/xml\">" + inner(fixture("boston-flu-geocode.xml"))
            + b"</content></entry></feed>")
    assert [a.identifier for a in parse_cap(atom)] == ["2.49.0.0.250.0.FR.20200122050000.RED.PLUIE-INOND",
                                                        "BPHC-2015-0212-FLU"]


@pytest.mark.parametrize(("body", "reason"), [
    (fixture("not-xml.xml"), "not well-formed XML"),
    (b"", "empty document"),
    (b"<rss><channel><title>nothing</title></channel></rss>", "no CAP 1.2 <alert>"),
    (fixture("invalid-msgtype.xml"), "not valid CAP 1.2: .*msgType"),
    (fixture("gloria-red-rain.xml").replace(b"<status>Actual</status>", b""), "not valid CAP 1.2: .*status"),
    (fixture("gloria-red-rain.xml").replace(b"42.35,2.10 42.35,3.10 43.28,3.10 43.28,2.10 42.35,2.10",
                                            b"42.35,2.10 42.35,3.10 43.28,3.10"), "at least four points"),
    (fixture("back-bay-gas-circle.xml").replace(b"42.3499,-71.0774 0.5", b"142.3,-71.0 0.5"), "off the globe"),
    (fixture("back-bay-gas-circle.xml").replace(b"42.3499,-71.0774 0.5", b"42.3,-71.0 99999"), "radius"),
    (fixture("back-bay-gas-circle.xml").replace(b"BFD-2015-03-04-0017", b"BFD 17, rev 2"), "identifier: 1 to 256"),
    (fixture("back-bay-gas-circle.xml").replace(b"2015-03-04T14:20:00-05:00", b"0001-01-01T00:00:00+01:00"),
     "sent: .* not between 1970 and 2200"),
])
def test_what_is_not_a_valid_cap_message_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(CapError, match=reason):
        parse_cap(body)


def test_entities_and_doctypes_are_never_expanded_and_size_and_elements_are_bounded(monkeypatch: pytest.MonkeyPatch,
                                                                                   tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file://{secret}">]>'
           ).encode() + inner(fixture("gloria-red-rain.xml")).replace(b"<scope>Public</scope>",
                                                                      b"<scope>Public</scope><note>&x;</note>")
    with pytest.raises(CapError, match="DOCTYPE") as err:
        parse_cap(xxe)
    assert "TOP-SECRET" not in str(err.value)
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              b"<lolz>&lol2;</lolz>")
    with pytest.raises(CapError):
        parse_cap(laughs)
    with pytest.raises(CapError, match="larger than"):
        parse_cap(b"<a>" + b" " * cap_in.MAX_BYTES + b"</a>")
    monkeypatch.setattr(cap_in, "MAX_ELEMENTS", 10)
    with pytest.raises(CapError, match="more than 10 elements"):
        parse_cap(fixture("gloria-red-rain.xml"))
