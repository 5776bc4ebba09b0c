"""Notifiers: webhook, log, email and SMS, and any channel type registered in
:mod:`fenghuo.alerts.notifiers.registry` (type name -> field checks + factory).

:func:`build_notifiers` builds every channel of a config; :func:`channel_errors` lists what is wrong with
them (``fenghuo check-config``), through the same checks. :func:`make_other` (one channel) is kept for its
callers.
"""

from __future__ import annotations

from fenghuo.alerts.notifiers.base import Notifier
from fenghuo.alerts.notifiers.registry import (
    CHANNELS,
    ChannelContext,
    ChannelType,
    build_notifiers,
    channel_errors,
    register_channel,
)
from fenghuo.core.config import Channel


def make_other(ch: Channel, public_url: str | None = None) -> Notifier:
    """The notifier of a channel of any registered type (email, SMS, or one added to the registry); kept for
    callers that build webhook and log channels themselves.

    ``public_url`` (the settings' ``public_url``) is the board's address, used for links in emails.
    Raises ValueError, saying what to fix, for a channel that cannot work.
    """
    kind = CHANNELS.get(ch.type)
    if kind is None:
        raise ValueError(f"channel {ch.name!r}: unknown channel type {ch.type!r}; "
                         f"registered: {', '.join(CHANNELS.names())}")
    return kind.build(ch, ChannelContext(public_url))


__all__ = ["CHANNELS", "ChannelContext", "ChannelType", "build_notifiers", "channel_errors", "make_other",
           "register_channel"]
