"""Personal data (issue 9, item 7): numbers masked in everything that leaves, private files, text retention.

Real receivers throughout: an HTTP webhook receiver and SMS gateway on loopback (tests/support.py), a
real SMTP server (aiosmtpd), the OASIS CAP 1.2 schema, real SQLite and the service as a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fenghuo.alerts.cap import area_of, atom_feed, messages, to_xml
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import ConfigError, parse_config
from fenghuo.core.models import Alert
from fenghuo.core.privacy import mask_doc, mask_pii, private_dir, private_file
from fenghuo.core.retention import DAY, PURGED, PurgeJob
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.alerts_support import CIRCLE_AREA, Inbox, make_alert, valid
from tests.support import Receiver, Service, free_port

T0 = 1_579_651_200.0  # 2020-01-22T00:00:00Z
PHONE, PHONE_MASKED = "13812345678", "138****5678"
PHONE2 = "15900001111"
ID_CARD, ID_MASKED = "11010119900307123X", "110101********123X"
SECRETS = (PHONE, PHONE2, ID_CARD, "1234 5678", "19900307")
# what a 12345 hotline passes on: the caller's words, with numbers in them
TEXTS = [
    f"楼上装修噪音太大，晚上十一点还在施工，我是业主张先生，电话{PHONE}，请尽快处理",
    f"小区门口夜市噪音扰民，多次投诉无果。联系人李女士 {PHONE2[:3]}-{PHONE2[3:7]}-{PHONE2[7:]}",
    f"邻居深夜KTV噪音，本人身份证号{ID_CARD}，要求实名登记投诉，回电+86 {PHONE}",
]
# a careless client: the caller's number in the category, so it reaches titles, details and CAP events
CATEGORY = f"噪音扰民(来电{PHONE})"


def nowhere(blobs: list[str]) -> None:
    for blob in blobs:
        for secret in SECRETS:
            assert secret not in blob, f"{secret!r} left unmasked in: {blob[:500]}"


# -- masking ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    (TEXTS[0], TEXTS[0].replace(PHONE, PHONE_MASKED)),
    (TEXTS[1], "小区门口夜市噪音扰民，多次投诉无果。联系人李女士 159****1111"),
    (TEXTS[2], f"邻居深夜KTV噪音，本人身份证号{ID_MASKED}，要求实名登记投诉，回电+86 {PHONE_MASKED}"),
    ("手机 138 1234 5678，座机 010-62345678", "手机 138****5678，座机 010-62345678"),
    ("身份证 11010119900307123x 已核实", "身份证 110101********123x 已核实"),
    ("电话１３８１２３４５６７８", "电话１３８****５６７８"),  # full-width digits, as Chinese input methods type
    ("工单号 202001221234567890123 金额 13800 元", "工单号 202001221234567890123 金额 13800 元"),  # not people's
    ("时间戳 1579651200 编号 1381234567", "时间戳 1579651200 编号 1381234567"),  # 10 digits: not a mobile
])
def test_mask_pii_keeps_the_shape_hides_the_number(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_mask_doc_keeps_ids() -> None:
    doc = {"notification_id": PHONE, "alert": {"id": PHONE, "title": {"zh-CN": CATEGORY}}, "n": 3}
    assert mask_doc(doc, keep={"notification_id", "id"}) == {
        "notification_id": PHONE, "alert": {"id": PHONE, "title": {"zh-CN": CATEGORY.replace(PHONE, PHONE_MASKED)}},
        "n": 3}


# -- notifications and CAP from a real pipeline -------------------------------------------------------------
NODES = [
    {"id": "D", "name": "区应急办", "kind": "district"},
    {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
    {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
    {"id": "G1", "name": "一号网格", "name_en": "Grid 1", "kind": "grid", "parent": "C", "centroid": [42.0, 2.0]},
]
COUNT_RULE = {"id": "noise", "kind": "count", "feed": "complaint", "category": "*", "levels": {"blue": 2, "yellow": 3},
              "window_seconds": 3600}


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def complaint(i: int, text: str, category: str = CATEGORY) -> dict[str, Any]:
    return {"feed": "complaint", "source": f"12345-{PHONE2}", "ts": T0 + 60 * i, "grid": "G1", "category": category,
            "text": text, "id": f"case-{i}"}


def test_no_number_reaches_a_webhook_mailbox_sms_gateway_cap_or_log(
        tmp_path: Path, smtp: tuple[Inbox, int], receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    inbox, port = smtp
    config = parse_config({
        "nodes": NODES, "rules": [COUNT_RULE],
        "channels": [
            {"name": "hook", "type": "webhook", "url": f"{receiver.url}/hook", "secret": "test-webhook-secret-1234"},
            {"name": "mail", "type": "email", "url": f"smtp://127.0.0.1:{port}", "to": ["duty@example.org"]},
            {"name": "sms", "type": "sms", "url": f"{receiver.url}/sms", "to": ["13800000000"]},
            {"name": "duty-log", "type": "log"}],
        "responders": [{"id": "g", "name": "网格员", "node": "G1", "channels": ["hook", "mail", "sms", "duty-log"]}]})
    clock = FixedClock(T0)
    p = Pipeline(Settings(data_dir=tmp_path), config, SqliteStore(tmp_path / "fenghuo.db"), clock=clock)  # type: ignore[call-arg]
    try:
        with caplog.at_level(logging.DEBUG):
            for i, text in enumerate(TEXTS):
                clock.set(T0 + 60 * i)
                p.ingest([complaint(i, text)])
            (alert,) = p.store.all_alerts()
            assert alert.level.name_en == "yellow" and PHONE in alert.title_zh  # the number is in what is stored
            p.delivery.run_due()
            hooks = receiver.wait_for(lambda got: {r["path"] for r in got} == {"/hook", "/sms"} and len(got) >= 4)
            p.delivery.close()
    finally:
        p.store.close()
    assert len(inbox.messages) == 2  # raised, upgraded
    mails = [f"{m['Subject']}\n{m.get_content()}" for _, m in inbox.messages]
    raw = [r["raw"].decode() for r in hooks]
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))  # not the
    nowhere(mails + raw + [logged])  # test's SMTP server's own log
    assert all(PHONE_MASKED in m for m in mails)
    webhook = [r["json"] for r in hooks if r["path"] == "/hook"]
    assert webhook[0]["alert"]["title"]["zh-CN"] == f"一号网格 {CATEGORY.replace(PHONE, PHONE_MASKED)} 投诉激增"
    assert webhook[0]["alert"]["id"] == alert.id  # ids are left as they are
    sms = [r["json"] for r in hooks if r["path"] == "/sms"]
    assert sms[0]["to"] == "13800000000" and PHONE_MASKED in sms[0]["text"]  # the gateway's numbers are not masked
    assert "notify duty-log raised" in logged
    for text in TEXTS:
        assert text not in logged

    # CAP: every message of the alert and the Atom feed
    area = area_of("G1", {n.id: n for n in config.nodes})
    caps = [to_xml(alert, i, area) for i in range(len(messages(alert)))]
    for xml in caps:
        valid(xml)
    feed = atom_feed([alert], "http://board/v1/cap/feed.atom", lambda a: f"http://board/v1/cap/alerts/{a.id}.xml")
    nowhere([b.decode() for b in [*caps, feed]])
    assert PHONE_MASKED in caps[0].decode() and PHONE_MASKED in feed.decode()


def test_cap_masks_every_text_element_and_stays_valid() -> None:
    a: Alert = make_alert(feed="complaint", drill=f"演练-{PHONE}")
    a.title_zh, a.title_en = f"一号网格 身份证{ID_CARD}", f"Grid 1: caller {PHONE}"
    a.evidence[0]["category"] = CATEGORY
    a.timeline[0].detail = f"noise: 3 complaints, caller {PHONE2}"
    a.timeline.append(type(a.timeline[0])(T0 + 60, "upgraded", "orange", "count", None, f"caller {PHONE2}"))
    docs = [to_xml(a, i, CIRCLE_AREA, web=f"http://board/#/alert/{a.id}") for i in range(len(messages(a)))]
    for xml in docs:
        root = valid(xml)
        texts = [el.text or "" for el in root.iter()]
        nowhere(texts)
    assert ID_MASKED in docs[0].decode() and "159****1111" in docs[-1].decode()


# -- the embedded service's files ---------------------------------------------------------------------------
def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_service_data_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # as an operator's mkdir leaves it: fenghuo tightens it and says so
    old = os.umask(0)  # the service inherits the most careless umask
    try:
        svc = Service(data, env={"FENGHUO_API_KEYS": ""}).start()
    finally:
        os.umask(old)
    try:
        assert mode(data) == 0o700
        for name in ("fenghuo.db", "fenghuo.db-wal", "fenghuo.db-shm", "api-keys"):
            assert (data / name).exists(), name
            assert mode(data / name) == 0o600, (name, oct(mode(data / name)))
        assert mode(data / "models") == 0o700
    finally:
        svc.stop()
    log = svc.log.read_text()
    assert "was open to other users (mode 755); made it 700" in log


def test_a_data_directory_fenghuo_must_not_change_is_left_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: others' files live here too
    with caplog.at_level(logging.WARNING, "fenghuo.core.privacy"):
        private_dir(shared)
    assert mode(shared) == 0o1777 and "chmod 700" in caplog.text and "sticky" in caplog.text
    fresh = private_dir(tmp_path / "a" / "b")
    assert mode(fresh) == 0o700
    f = tmp_path / "keys"
    f.write_text("x")
    os.chmod(f, 0o644)
    assert private_file(f) and mode(f) == 0o600 and not private_file(f)


# -- retention ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("privacy, expected", [
    ({"text_retention_days": -1}, "privacy.text_retention_days: Input should be greater than or equal to 0"),
    ({"text_retention_days": "30"}, "privacy.text_retention_days: Input should be a valid integer"),
    ({"text_retention_days": 30.5}, "privacy.text_retention_days: Input should be a valid integer"),
    ({"text_retention_days": True}, "privacy.text_retention_days: Input should be a valid integer"),
    ({"text_retention_days": 100000}, "privacy.text_retention_days: Input should be less than or equal to 36500"),
    ({"text_retention": 30}, "privacy.text_retention: Extra inputs are not permitted"),
    ("forever", "privacy: Input should be a valid dictionary"),
])
def test_privacy_config_errors_say_where(privacy: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"privacy": privacy})
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors


def test_privacy_config_defaults_and_forever() -> None:
    assert parse_config({}).privacy.text_retention_days == 365
    assert parse_config({"privacy": {"text_retention_days": 0}}).privacy.retention_seconds is None
    assert parse_config({"privacy": {"text_retention_days": None}}).privacy.retention_seconds is None


def purge_pipeline(tmp_path: Path, clock: FixedClock, days: int | None = 30) -> Pipeline:
    config = parse_config({"nodes": NODES, "rules": [COUNT_RULE], "privacy": {"text_retention_days": days}})
    return Pipeline(Settings(data_dir=tmp_path), config, SqliteStore(tmp_path / "fenghuo.db"), clock=clock)  # type: ignore[call-arg]


def test_texts_are_purged_once_a_day_after_the_period_counts_stay(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    p = purge_pipeline(tmp_path, clock)
    try:
        p.ingest([complaint(i, text, "噪音") for i, text in enumerate(TEXTS)])
        p.ingest([{"feed": "complaint", "text": TEXTS[0], "ts": "yesterday"}])  # a dead letter with a text
        assert p.purge.tick(background=False)  # the first run, at start: nothing is old enough yet
        assert [e.text for _, e in p.store.events_after(0, 10)] == TEXTS
        clock.set(T0 + 20 * DAY)
        p.ingest([{**complaint(9, "二十天后的新投诉", "噪音"), "ts": T0 + 20 * DAY}])
        assert p.purge.tick(background=False)  # 20 days on: nothing is 30 days old yet
        clock.set(T0 + 21 * DAY - 60)
        assert not p.purge.tick(background=False)  # not a day since the last run
        assert [e.text for _, e in p.store.events_after(0, 10)] == [*TEXTS, "二十天后的新投诉"]
        clock.set(T0 + 31 * DAY)
        p.tick()  # the service's tick starts it on its own thread
        p.purge.wait(30)
        texts = {e.id: e.text for _, e in p.store.events_after(0, 10)}
        assert texts == {"case-0": None, "case-1": None, "case-2": None, "case-9": "二十天后的新投诉"}
        assert [d["record"]["text"] for d in p.store.dead_letters()] == [PURGED]
        kept = p.store.series(feed="complaint", grid="G1", source=None, metric=None, category="噪音", start=0,
                              end=T0 + 40 * DAY)
        assert len(kept) == 4  # category, grid and ts stay: counts and bursts work on
        dump = b"".join(f.read_bytes() for f in tmp_path.glob("fenghuo.db*"))
        for text in TEXTS:  # overwritten in the file (secure_delete) and the write-ahead log (checkpointed)
            assert text.encode() not in dump
    finally:
        p.stop()
    # a restart the same day does not purge again; the day after, it does
    clock.set(T0 + 31 * DAY + 3600)
    p = purge_pipeline(tmp_path, clock)
    try:
        assert not p.purge.tick(background=False)
        clock.set(T0 + 32 * DAY)
        assert p.purge.tick(background=False)
    finally:
        p.stop()


def test_no_period_keeps_texts_forever(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    p = purge_pipeline(tmp_path, clock, days=0)
    try:
        p.ingest([complaint(0, TEXTS[0])])
        clock.set(T0 + 3650 * DAY)
        assert not p.purge.tick(background=False)
        assert PurgeJob(p.store, 0, clock.now).run().summary().startswith("texts are kept forever")
        assert [e.text for _, e in p.store.events_after(0, 10)] == [TEXTS[0]]
    finally:
        p.stop()


def test_purge_command_dry_run_then_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fenghuo.cli.main import main

    store = SqliteStore(tmp_path / "fenghuo.db")
    p = Pipeline(Settings(data_dir=tmp_path), parse_config({"nodes": NODES}), store, clock=FixedClock(T0))  # type: ignore[call-arg]
    p.ingest([complaint(0, TEXTS[0]), complaint(1, TEXTS[1])])
    p.stop()
    conf = tmp_path / "config.yaml"
    conf.write_text("privacy:\n  text_retention_days: 30\n", encoding="utf-8")
    assert main(["purge", "--data-dir", str(tmp_path), "--config", str(conf), "--dry-run"]) == 0
    assert "would purge the texts of 2 complaint/opinion event(s)" in capsys.readouterr().out
    assert main(["purge", "--data-dir", str(tmp_path), "--config", str(conf)]) == 0
    assert "purged the texts of 2 complaint/opinion event(s)" in capsys.readouterr().out
    store = SqliteStore(tmp_path / "fenghuo.db")
    try:
        assert [e.text for _, e in store.events_after(0, 10)] == [None, None]
    finally:
        store.close()
    assert main(["purge", "--data-dir", str(tmp_path / "nothing-here")]) == 2
    assert "no database" in capsys.readouterr().err


def test_purge_record_never_keeps_a_text() -> None:
    from fenghuo.core.retention import purge_record

    assert purge_record([{"text": TEXTS[0]}, 3, {"feed": "sensor"}]) == [{"text": PURGED}, 3, {"feed": "sensor"}]
    assert purge_record(json.dumps({"text": TEXTS[0]})) == PURGED
    assert purge_record(PURGED) is None and purge_record({"text": PURGED}) is None
