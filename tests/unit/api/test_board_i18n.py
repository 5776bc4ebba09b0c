"""Every message of the board exists in both languages: the keys the JavaScript and the page use (t("..."),
tOr(`...`), data-i18n="...", the server-text forms' keys), and the two dictionaries hold the same keys."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import ROOT

STATIC = ROOT / "api" / "static"
I18N = STATIC / "js" / "i18n.js"
KEY = r"[a-z][\w\-]*(?:\.[\w\-]+)+"


def dictionaries() -> dict[str, set[str]]:
    """The keys of the zh-CN and en dictionaries in js/i18n.js (``"key": "text"`` entries)."""
    text = I18N.read_text(encoding="utf-8")
    zh_at, en_at = text.index('"zh-CN": {'), text.index("\n  en: {")
    end = text.index("\n};", en_at)
    entry = re.compile(r'(?:^\s*|[{,]\s*)"(' + KEY + r'|[a-z]+)":\s*"', re.M)
    return {"zh-CN": set(entry.findall(text[zh_at + 10:en_at])), "en": set(entry.findall(text[en_at:end]))}


def sources() -> dict[str, str]:
    files = list((STATIC / "js").rglob("*.js")) + [STATIC / "index.html"]
    return {str(p.relative_to(STATIC)): p.read_text(encoding="utf-8") for p in files}


def used_keys() -> dict[str, set[str]]:
    """Literal keys per file: t("k"), t('k'), tOr("k"), data-i18n*="k", and key-shaped literals in the server-text
    forms (js/server-text.js keeps its keys in tables)."""
    out: dict[str, set[str]] = {}
    for name, text in sources().items():
        keys = set(re.findall(r'\bt(?:Or)?\(\s*["\'](' + KEY + r'|[a-z]+)["\']', text))
        keys |= set(re.findall(r'data-i18n(?:-aria|-placeholder)?="([^"]+)"', text))
        if name.endswith("server-text.js"):
            keys |= set(re.findall(r'"((?:sv|val|field)\.[\w.\-]+)"', text))
        out[name] = keys
    return out


def template_prefixes() -> set[str]:
    """Prefixes of keys built at run time: t(`level.${lv}`) -> "level."."""
    out: set[str] = set()
    for text in sources().values():
        out |= set(re.findall(r'\bt(?:Or)?\(\s*`([a-z][\w.\-]*\.)\$\{', text))
    return out


def test_both_dictionaries_hold_the_same_keys() -> None:
    d = dictionaries()
    assert len(d["zh-CN"]) > 300 and len(d["en"]) > 300, {k: len(v) for k, v in d.items()}
    only_zh, only_en = sorted(d["zh-CN"] - d["en"]), sorted(d["en"] - d["zh-CN"])
    assert not only_zh and not only_en, f"only in Chinese: {only_zh}; only in English: {only_en}"


def test_every_key_the_board_uses_is_in_both_languages() -> None:
    d = dictionaries()
    missing = {name: sorted(k for k in keys if k not in d["zh-CN"] or k not in d["en"])
               for name, keys in used_keys().items()}
    missing = {name: keys for name, keys in missing.items() if keys}
    assert not missing, f"keys without a text in one language or both: {missing}"


def test_every_key_family_built_at_run_time_exists() -> None:
    d = dictionaries()
    empty = sorted(p for p in template_prefixes() if not any(k.startswith(p) for k in d["zh-CN"] & d["en"]))
    assert not empty, f"t(`prefix.${{...}}`) with no key of that prefix in both languages: {empty}"


def test_the_checks_see_a_missing_key(tmp_path: Path) -> None:
    """The extraction really reads the calls: a made-up key in a t("...") call is reported."""
    text = 'const x = t("nope.not_a_key"); h("p", {}, t("alerts.empty"));'
    found = set(re.findall(r'\bt(?:Or)?\(\s*["\'](' + KEY + r'|[a-z]+)["\']', text))
    d = dictionaries()
    assert found == {"nope.not_a_key", "alerts.empty"}
    assert [k for k in found if k not in d["en"]] == ["nope.not_a_key"]
