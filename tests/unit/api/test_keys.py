"""Named API keys: ``fenghuo keys add|list|revoke|rotate``, the hashed keys file, expiry, and the key ring
that a running service reads (it notices a revoked or rotated key without a restart)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from fenghuo.api.auth import KeyRefused, KeyRing, ensure_keys
from fenghuo.api.keyfile import KeyFile, KeyFileError
from fenghuo.cli.main import main
from fenghuo.core.settings import Settings


def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["keys", *argv, "--data-dir", str(tmp_path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = keys(tmp_path, capsys, "add", "li.duty", "--role", "responder",
                          "--expires", "2099-01-01T00:00:00Z")
    key = out.strip()
    assert code == 0 and len(key) >= 40 and "shown only now" in err
    text = (tmp_path / "api-keys").read_text()
    assert key not in text and hashlib.sha256(key.encode()).hexdigest() in text
    assert oct((tmp_path / "api-keys").stat().st_mode)[-3:] == "600"
    entry = json.loads(text)["keys"][0]
    assert (entry["name"], entry["role"], entry["expires"]) == ("li.duty", "responder", "2099-01-01T00:00:00Z")
    who = KeyRing(file=KeyFile(tmp_path / "api-keys")).check(key)
    assert (who.name, who.role, who.can_drill) == ("li.duty", "responder", False)


def test_list_shows_names_roles_and_expiry_never_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, k1, _ = keys(tmp_path, capsys, "add", "ops", "--role", "admin")
    keys(tmp_path, capsys, "add", "drill.lead", "--role", "responder", "--drill")
    code, out, _ = keys(tmp_path, capsys, "list")
    assert code == 0 and k1.strip() not in out
    rows = [re.split(r"\s{2,}", line) for line in out.strip().splitlines()]
    assert rows[0][:3] == ["NAME", "ROLE", "DRILLS"]
    assert [r[:3] for r in rows[1:]] == [["ops", "admin", "yes"], ["drill.lead", "responder", "yes"]]


def test_revoke_and_rotate_take_effect_in_a_running_key_ring(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, a, _ = keys(tmp_path, capsys, "add", "a", "--role", "viewer")
    _, b, _ = keys(tmp_path, capsys, "add", "b", "--role", "analyst")
    ring = KeyRing(file=KeyFile(tmp_path / "api-keys"))
    ring._checked = float("-inf")
    assert ring.check(a.strip()).name == "a" and ring.check(b.strip()).name == "b"
    assert keys(tmp_path, capsys, "revoke", "a")[0] == 0
    code, new_b, _ = keys(tmp_path, capsys, "rotate", "b")
    assert code == 0 and new_b.strip() != b.strip()
    ring._checked = float("-inf")  # as if a second had passed since the last look at the file
    with pytest.raises(KeyRefused, match="invalid API key"):
        ring.check(a.strip())
    with pytest.raises(KeyRefused, match="invalid API key"):
        ring.check(b.strip())
    assert ring.check(new_b.strip()).role == "analyst"


def test_mistakes_are_reported_without_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys(tmp_path, capsys, "add", "a", "--role", "viewer")
    assert keys(tmp_path, capsys, "add", "a", "--role", "viewer")[2] == \
        "fenghuo keys: a key named a exists: rotate it, or revoke it first\n"
    assert "no key named zz" in keys(tmp_path, capsys, "revoke", "zz")[2]
    assert "letters, digits" in keys(tmp_path, capsys, "add", "bad name", "--role", "viewer")[2]
    assert "in the past" in keys(tmp_path, capsys, "add", "old", "--role", "viewer", "--expires", "2001-01-01")[2]


def test_an_expired_key_is_refused_as_expired(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    file = KeyFile(tmp_path / "api-keys")
    key = file.add("temp", "viewer", now[0], expires=now[0] + 60)
    ring = KeyRing(file=file, clock=lambda: now[0])
    assert ring.check(key).name == "temp"
    now[0] += 60
    with pytest.raises(KeyRefused, match="key expired"):
        ring.check(key)
    assert ring.find(key) is None


def test_environment_keys_have_names(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, api_keys="responder:li.duty:responder-key-0000000,viewer:viewer-key-000000000")
    ring, created = ensure_keys(s)
    assert created is None and not (tmp_path / "api-keys").exists()  # configured keys: nothing made
    assert ring.check("responder-key-0000000").name == "li.duty"
    assert re.fullmatch(r"viewer-[0-9a-f]{8}", ring.check("viewer-key-000000000").name)
    with pytest.raises(ValueError, match="role:name:key"):
        Settings(api_keys="admin:no spaces:0123456789abcdef").named_keys()


def test_a_name_in_both_places_is_refused(tmp_path: Path) -> None:
    KeyFile(tmp_path / "api-keys").add("ops", "admin", 0.0 + 1e9)
    with pytest.raises(KeyFileError, match="both in FENGHUO_API_KEYS and the keys file"):
        ensure_keys(Settings(data_dir=tmp_path, api_keys="admin:ops:0123456789abcdef"))


def test_first_run_makes_an_admin_key_and_an_old_plain_file_is_hashed(tmp_path: Path) -> None:
    ring, created = ensure_keys(Settings(data_dir=tmp_path))
    assert created and ring.check(created).name == "admin"
    assert ensure_keys(Settings(data_dir=tmp_path))[1] is None  # made once
    old = tmp_path / "old"
    old.mkdir()
    (old / "api-keys").write_text("admin:plain-old-key-123456789\nviewer:another-plain-key-1234\n")
    ring, created = ensure_keys(Settings(data_dir=old))
    assert created is None and ring.check("plain-old-key-123456789").name == "admin"
    assert "plain-old-key" not in (old / "api-keys").read_text()  # converted: hashes only
    assert ring.check("another-plain-key-1234").role == "viewer"


def test_a_damaged_keys_file_stops_the_start_with_a_clear_message(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "api-keys").write_text("{not json")
    assert main(["run", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_tls_files_are_checked_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--data-dir", str(tmp_path), "--tls-cert", str(tmp_path / "nope.pem")]) == 2
    assert "needs both --tls-cert FILE and --tls-key FILE" in capsys.readouterr().err
    (tmp_path / "k.pem").write_text("not a key")
    assert main(["run", "--data-dir", str(tmp_path), "--tls-cert", str(tmp_path / "nope.pem"),
                 "--tls-key", str(tmp_path / "k.pem")]) == 2
    assert "--tls-cert" in (err := capsys.readouterr().err) and "no such file" in err
    (tmp_path / "c.pem").write_text("not a cert")
    assert main(["run", "--data-dir", str(tmp_path), "--tls-cert", str(tmp_path / "c.pem"),
                 "--tls-key", str(tmp_path / "k.pem")]) == 2
    assert "not a PEM certificate and its key" in capsys.readouterr().err


def test_the_demo_gets_a_fresh_admin_key_at_each_start(tmp_path: Path) -> None:
    from fenghuo.api.auth import issue_demo_key

    s = Settings(data_dir=tmp_path)
    first, second = issue_demo_key(s), issue_demo_key(s)
    ring = KeyRing(file=KeyFile(tmp_path / "api-keys"))
    assert ring.check(second).name == "demo" and ring.check(second).role == "admin"
    assert ring.find(first) is None  # rotated away
