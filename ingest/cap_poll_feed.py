"""Reading CAP feeds for the poller (:mod:`fenghuo.ingest.cap_poll`): the HTTP fetch, bounded, and the entries
of an Atom or RSS feed, each embedding a CAP ``<alert>`` or linking to one (pure but for the fetch).

A document from outside is parsed with its DTD refused (no entity expansion); a linked message is fetched only
from the feed's own host and port, or a host the source names, over http(s).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

ATOM = "{http://www.w3.org/2005/Atom}"
CAP_ALERT = "{urn:oasis:names:tc:emergency:cap:1.2}alert"
CAP_TYPES = ("application/cap+xml", "application/common-alerting-protocol+xml")
MAX_REASON = 300  # characters of an error's reason kept
USER_AGENT = "fenghuo-cap-poll/1"


class FetchError(Exception):
    """A fetch that did not give an answer to read (network, size); ``str()`` is the reason."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, the headers that matter (lower-case names), the body (bounded)."""

    status: int
    headers: dict[str, str]
    body: bytes


Fetch = Callable[[str, dict[str, str], float, int], Answer]  # url, headers, timeout s, max bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """A feed entry: its key (id and updated time), the CAP it embeds or the link to it."""

    key: str
    embedded: bytes | None
    link: str | None


def _safe_xml(body: bytes) -> ET.Element:
    """Parse a document from outside; DTDs (entity expansion) are refused."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("a DTD is not accepted in a CAP feed")
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise ValueError(f"not XML: {e}") from e


def feed_entries(body: bytes, base_url: str) -> list[Entry] | None:
    """The entries of an Atom or RSS feed; ``None`` when the document is CAP itself (one alert or a batch).

    >>> atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>e1</id><updated>t1</updated>'
    ...         b'<link rel="alternate" type="application/cap+xml" href="/v1/cap/alerts/a1.xml"/></entry></feed>')
    >>> feed_entries(atom, "http://h:1/v1/cap/feed.atom")
    [Entry(key='e1|t1', embedded=None, link='http://h:1/v1/cap/alerts/a1.xml')]
    """
    root = _safe_xml(body)
    if root.tag == f"{ATOM}feed":
        return [_atom_entry(e, base_url) for e in root.findall(f"{ATOM}entry")]
    if root.tag == "rss" or root.tag.endswith("}RDF"):
        return [_rss_item(i, base_url) for i in root.iter() if i.tag == "item" or i.tag.endswith("}item")]
    if root.tag == f"{ATOM}entry":
        return [_atom_entry(root, base_url)]
    return None


def _embedded(el: ET.Element) -> bytes | None:
    found = next(el.iter(CAP_ALERT), None)
    return ET.tostring(found, encoding="UTF-8", xml_declaration=True) if found is not None else None


def _atom_entry(e: ET.Element, base: str) -> Entry:
    key = f"{(e.findtext(f'{ATOM}id') or '').strip()}|{(e.findtext(f'{ATOM}updated') or '').strip()}"
    links = e.findall(f"{ATOM}link")
    cap = [lk for lk in links if (lk.get("type") or "").split(";")[0].strip() in CAP_TYPES]
    alt = [lk for lk in links if (lk.get("rel") or "alternate") == "alternate"]
    href = next((lk.get("href") for lk in cap + alt if lk.get("href")), None)
    return Entry(key[:1000], _embedded(e), urljoin(base, href) if href else None)


def _rss_item(i: ET.Element, base: str) -> Entry:
    def text(tag: str) -> str:
        return (next((c.text or "" for c in i if c.tag == tag or c.tag.endswith("}" + tag)), "")).strip()
    enclosures = [c.get("url") for c in i if c.tag == "enclosure" and (c.get("type") or "") in CAP_TYPES]
    href = next((u for u in enclosures if u), None) or text("link") or None
    key = f"{text('guid') or text('link')}|{text('pubDate') or text('date')}"
    return Entry(key[:1000], _embedded(i), urljoin(base, href) if href else None)


def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port


def allowed_link(link: str, feed_url: str, hosts: Sequence[str] = ()) -> bool:
    """A linked message may come from the feed's own host (and port) or one of ``hosts``; http(s) only.

    >>> feed = "http://10.0.0.1:8101/v1/cap/feed.atom"
    >>> [allowed_link(u, feed, ["cap.example"]) for u in ("http://10.0.0.1:8101/v1/cap/alerts/a.xml",
    ...  "http://10.0.0.1:9/x", "https://cap.example/a.xml", "file:///etc/passwd")]
    [True, False, True, False]
    """
    if urlsplit(link).scheme not in ("http", "https"):
        return False
    host, port = _origin(link)
    return (host, port) == _origin(feed_url) or host in {h.lower() for h in hosts}


class HttpFetch:
    """The real fetch: httpx, the body read up to ``max_bytes`` (more is an error, not a truncated read)."""

    def __init__(self) -> None:
        import httpx

        self._httpx = httpx
        self.client: httpx.Client | None = None  # opened by the first fetch (a poller never started opens none)

    def __call__(self, url: str, headers: dict[str, str], timeout_s: float, max_bytes: int) -> Answer:
        if self.client is None:
            self.client = self._httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})
        try:
            with self.client.stream("GET", url, headers=headers, timeout=timeout_s) as r:
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"answer larger than {max_bytes} bytes")
                keep = {k: r.headers[k] for k in ("etag", "last-modified", "content-type") if k in r.headers}
                return Answer(r.status_code, keep, bytes(body))
        except self._httpx.HTTPError as e:
            raise FetchError(f"{type(e).__name__}: {e}"[:MAX_REASON]) from e

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
