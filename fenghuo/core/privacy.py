"""Personal data: mobile numbers and resident ID numbers masked in free text; private files and directories.

Complaint and opinion texts carry what callers say about themselves and others. What leaves the
service for people who do not need the numbers (notifications, CAP messages, roles below analyst)
goes through :func:`mask_pii`; :func:`mask_doc` does the same for every string inside a JSON-like
value (keys named in ``keep``, such as ids, are left as they are).

>>> mask_pii("请联系13812345678，身份证110101199003071234")
'请联系138****5678，身份证110101********1234'
>>> mask_pii("order 2013812345678901 and tel +86 139-1234-5678")
'order 2013812345678901 and tel +86 139****5678'
>>> mask_pii("+8613912345678 / 008613912345678 / 86 13912345678")
'+86139****5678 / 0086139****5678 / 86 139****5678'
>>> mask_pii("全角号码１３８１２３４５６７８，身份证１１０１０１１９９００３０７１２３Ｘ")
'全角号码１３８****５６７８，身份证１１０１０１********１２３Ｘ'
>>> mask_doc({"text": "call 15912345678", "n": 3, "list": ["11010119900307123X"]})
{'text': 'call 159****5678', 'n': 3, 'list': ['110101********123X']}
>>> mask_doc({"id": "13812345678", "title": "13812345678"}, keep={"id"})
{'id': '13812345678', 'title': '138****5678'}

The data directory and what is in it are the operator's alone: files 0600 in 0700 directories
(:func:`private_dir`, :func:`private_file`, :func:`private_tree`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any

log = logging.getLogger("fenghuo.core.privacy")

_D = "[0-9\uff10-\uff19]"  # ASCII or full-width digit (Chinese input methods type either)
_NOT_DIGIT_BEFORE = "(?<![0-9\uff10-\uff19])"
_NOT_DIGIT_AFTER = "(?![0-9\uff10-\uff19])"
# an 11-digit mainland mobile (1[3-9]...), optionally written 3-4-4 with spaces or dashes, optionally after
# +86 / 0086 / 86, not part of a longer run of digits
_MOBILE = re.compile(
    rf"{_NOT_DIGIT_BEFORE}((?:[+\uff0b]|00|\uff10\uff10)?(?:86|\uff18\uff16)[ -]?)?"
    rf"([1\uff11][3-9\uff13-\uff19]{_D})[ -]?({_D}{{4}})[ -]?({_D}{{4}}){_NOT_DIGIT_AFTER}")
# an 18-character resident identity card number: 6 region digits, 8 birth-date digits, 3 digits, a check digit or X
_RESIDENT_ID = re.compile(
    rf"(?<![0-9A-Za-z\uff10-\uff19])({_D}{{6}})({_D}{{11}})([0-9Xx\uff10-\uff19\uff38\uff58])"
    r"(?![0-9A-Za-z\uff10-\uff19])")


def _id(m: re.Match[str]) -> str:
    return f"{m.group(1)}{'*' * 8}{m.group(2)[-3:]}{m.group(3)}"


def _mobile(m: re.Match[str]) -> str:
    return f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}"


def mask_pii(text: str) -> str:
    """The text with mobile numbers kept as ``138****5678`` and resident IDs as region, stars, last four."""
    if not text or not any(c.isdigit() for c in text):
        return text
    return _MOBILE.sub(_mobile, _RESIDENT_ID.sub(_id, text))


def mask_doc(value: Any, keep: Collection[str] = ()) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) with every string masked.

    Values under a key in ``keep`` (at any depth: ids, idempotency keys) are copied unmasked.
    """
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: v if k in keep else mask_doc(v, keep) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_doc(v, keep) for v in value]
    return value


# -- private files ----------------------------------------------------------------------------------------
DIR_MODE = 0o700
FILE_MODE = 0o600


def _open_to_others(mode: int) -> bool:
    return bool(stat.S_IMODE(mode) & 0o077)


def _ours_to_tighten(path: Path, st: os.stat_result) -> str | None:
    """Why fenghuo should not change the mode of an existing directory, or None when it may."""
    if st.st_uid != os.getuid():
        return f"it belongs to uid {st.st_uid}, not to this user"
    if st.st_mode & stat.S_ISVTX:
        return "it is a shared directory (sticky bit)"
    resolved = path.resolve()
    if resolved in (Path("/"), Path.home().resolve(), Path.cwd().resolve()):
        return "it is the root, home or current directory"
    return None


def private_dir(path: str | Path) -> Path:
    """Make ``path`` (and missing parents) a directory only its owner can enter: 0700.

    A directory fenghuo creates gets 0700 whatever the umask. An existing one readable by group or
    others is tightened (with a warning) when it belongs to this user and is not shared, the home
    or the current directory; otherwise the warning says what to do and the mode is left alone.
    """
    p = Path(path)
    try:
        p.mkdir(mode=DIR_MODE, parents=True)
    except FileExistsError:
        if not p.is_dir():
            raise NotADirectoryError(f"{p} exists and is not a directory") from None
        st = p.stat()
        if _open_to_others(st.st_mode):
            why_not = _ours_to_tighten(p, st)
            if why_not is None:
                os.chmod(p, DIR_MODE)
                log.warning("data directory %s was open to other users (mode %o); made it %o", p,
                            stat.S_IMODE(st.st_mode), DIR_MODE)
            else:
                log.warning("data directory %s is open to other users (mode %o) and holds personal data; "
                            "fenghuo left it as it is because %s: run chmod 700 on it or choose another "
                            "--data-dir", p, stat.S_IMODE(st.st_mode), why_not)
        return p
    os.chmod(p, DIR_MODE)  # mkdir's mode passes through the umask; this is exact
    return p


def private_file(path: str | Path) -> bool:
    """Make an existing file 0600 if it is open to others (True when changed); a missing file is fine."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if not _open_to_others(st.st_mode):
        return False
    os.chmod(path, FILE_MODE)
    return True


def private_tree(path: str | Path) -> None:
    """Tighten a directory fenghuo owns (models, backups) and everything in it: dirs 0700, files 0600."""
    root = private_dir(path)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            full = Path(dirpath) / d
            if not full.is_symlink() and _open_to_others(full.stat().st_mode):
                os.chmod(full, DIR_MODE)
        for f in filenames:
            full = Path(dirpath) / f
            if not full.is_symlink():
                private_file(full)


def sqlite_files(db: Path) -> list[Path]:
    """The database file and its WAL and shared-memory files (``-wal``, ``-shm``, ``-journal``)."""
    return [db] + [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
