"""Notifiers: webhook, log, email and SMS. :func:`make_other` builds the email and SMS ones."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fenghuo.alerts.notifiers.base import Notifier

    from fenghuo.core.config import Channel


def make_other(ch: Channel, public_url: str | None = None) -> Notifier:
    """The notifier of an ``email`` or ``sms`` channel.

    ``public_url`` (default: the ``FENGHUO_PUBLIC_URL`` environment variable) is the board's address,
    used for links in emails. Raises ValueError, saying what to fix, for a channel that cannot work.
    """
    if public_url is None:
        public_url = os.environ.get("FENGHUO_PUBLIC_URL") or None
    if ch.type == "email":
        from fenghuo.alerts.notifiers.email import EmailNotifier

        if not ch.url:
            raise ValueError(f"channel {ch.name!r}: an email channel needs a url like smtp://host:25")
        if not ch.to:
            raise ValueError(f"channel {ch.name!r}: an email channel needs recipients in 'to'")
        return EmailNotifier(ch.name, ch.url, ch.to, ch.secret, ch.timeout_seconds, public_url)
    if ch.type == "sms":
        from fenghuo.alerts.notifiers.sms import SmsNotifier

        if not ch.url:
            raise ValueError(f"channel {ch.name!r}: an SMS channel needs the gateway's url")
        if not ch.to:
            raise ValueError(f"channel {ch.name!r}: an SMS channel needs phone numbers in 'to'")
        return SmsNotifier(ch.name, ch.url, ch.to, ch.template, ch.secret, ch.timeout_seconds)
    raise ValueError(f"channel {ch.name!r}: make_other builds email and sms channels, not {ch.type!r}")
