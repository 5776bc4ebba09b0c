"""The channel registry: notifier channel type (``channels[].type`` of the config) -> checks and factory.

A channel type is registered once with :func:`register_channel` (a decorator on its factory
``(Channel, ChannelContext) -> Notifier``) and a ``check(Channel) -> list[str]`` that lists what is
wrong with a channel's fields (``"url: a webhook channel needs a url"``), without building anything.
``fenghuo check-config`` (:func:`channel_errors`) and ``run`` (:func:`build_notifiers`) go through the
same check, so the first refuses what the second would. The built-in types (webhook, log, email, sms)
are registered at the end of this module; :data:`CHANNEL_MODULES` lists modules registering more.

>>> from fenghuo.core.config import Channel, Config
>>> channel_errors(Config(channels=[Channel(name="h", type="webhook", url="http://x")]))
['channels[0].secret: a webhook channel needs a secret (use ${ENV_VAR})']
>>> channel_errors(Config(channels=[Channel(name="p", type="pager")]))  # doctest: +ELLIPSIS
["channels[0].type: unknown channel type 'pager'; registered: webhook, log, email, sms..."]
>>> sorted(build_notifiers(Config(channels=[Channel(name="l", type="log")]), public_url=None))
['l']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fenghuo.alerts.notifiers.base import Notifier
from fenghuo.core.config import Channel, Config, ConfigError

CHANNEL_MODULES: tuple[str, ...] = ()  # modules registering channel types beyond the built-in ones


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a factory may use besides the channel: the board's public address (from the settings), for links."""

    public_url: str | None = None


Check = Callable[[Channel], list[str]]
Factory = Callable[[Channel, ChannelContext], Notifier]


@dataclass(frozen=True, slots=True)
class ChannelType:
    name: str
    check: Check
    factory: Factory
    module: str = ""

    def errors(self, ch: Channel) -> list[str]:
        return list(self.check(ch))

    def build(self, ch: Channel, ctx: ChannelContext | None = None) -> Notifier:
        """The notifier; ValueError, saying what to fix, for a channel that cannot work."""
        errors = self.errors(ch)
        if errors:
            raise ValueError(f"channel {ch.name!r}: " + "; ".join(errors))
        return self.factory(ch, ctx or ChannelContext())


class ChannelRegistry:
    def __init__(self) -> None:
        self._items: dict[str, ChannelType] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in CHANNEL_MODULES:
                importlib.import_module(module)

    def add(self, name: str, check: Check, factory: Factory) -> ChannelType:
        module = getattr(factory, "__module__", "") or ""
        old = self._items.get(name)
        if old is not None and old.module != module:
            raise ValueError(f"channel type {name!r} is registered already (by {old.module})")
        kind = self._items[name] = ChannelType(name, check, factory, module)
        return kind

    @contextmanager
    def registered(self, name: str, check: Check, factory: Factory) -> Iterator[ChannelType]:
        """A channel type for the time of a ``with`` block (tests, plug-ins tried out): undone on exit."""
        self._load()
        if name in self._items:
            raise ValueError(f"channel type {name!r} is registered already (by {self._items[name].module})")
        kind = self.add(name, check, factory)
        try:
            yield kind
        finally:
            if self._items.get(name) is kind:
                del self._items[name]

    def get(self, name: str) -> ChannelType | None:
        self._load()
        return self._items.get(name)

    def names(self) -> list[str]:
        self._load()
        return list(self._items)


CHANNELS = ChannelRegistry()


def register_channel(name: str, check: Check) -> Callable[[Factory], Factory]:
    """Decorate a channel type's factory ``(Channel, ChannelContext) -> Notifier`` to register it."""

    def deco(factory: Factory) -> Factory:
        CHANNELS.add(name, check, factory)
        return factory

    return deco


def channel_errors(config: Config) -> list[str]:
    """Every error in the channels' types and fields, as ``channels[i].field: what``."""
    errors: list[str] = []
    for i, ch in enumerate(config.channels):
        kind = CHANNELS.get(ch.type)
        if kind is None:
            errors.append(f"channels[{i}].type: unknown channel type {ch.type!r}; "
                          f"registered: {', '.join(CHANNELS.names())}")
            continue
        errors += [f"channels[{i}].{e}" for e in kind.errors(ch)]
    return errors


def build_notifiers(config: Config, public_url: str | None = None) -> dict[str, Notifier]:
    """The notifier of every channel of the config, by channel name; :class:`ConfigError` listing every
    channel error (those of :func:`channel_errors`) when one cannot work. ``public_url`` is the board's
    address (the settings' ``public_url``), used for links in emails."""
    errors = channel_errors(config)
    if errors:
        raise ConfigError(errors)
    ctx = ChannelContext(public_url)
    out: dict[str, Notifier] = {}
    for ch in config.channels:
        kind = CHANNELS.get(ch.type)
        assert kind is not None
        out[ch.name] = kind.build(ch, ctx)
    return out


# -- the built-in channel types -------------------------------------------------------------------------
def _check_webhook(ch: Channel) -> list[str]:
    errors = [] if ch.url else ["url: a webhook channel needs a url"]
    return errors + ([] if ch.secret else ["secret: a webhook channel needs a secret (use ${ENV_VAR})"])


@register_channel("webhook", _check_webhook)
def _webhook(ch: Channel, ctx: ChannelContext) -> Notifier:
    from fenghuo.alerts.notifiers.webhook import WebhookNotifier

    assert ch.url and ch.secret
    return WebhookNotifier(ch.name, ch.url, ch.secret, ch.timeout_seconds)


def _check_nothing(ch: Channel) -> list[str]:
    return []


@register_channel("log", _check_nothing)
def _log(ch: Channel, ctx: ChannelContext) -> Notifier:
    from fenghuo.alerts.notifiers.log import LogNotifier

    return LogNotifier(ch.name)


def _check_email(ch: Channel) -> list[str]:
    from fenghuo.alerts.notifiers.email import parse_smtp_url

    errors = [] if ch.to else ["to: an email channel needs recipients"]
    if not ch.url:
        return ["url: an email channel needs a url like smtp://host:25", *errors]
    try:
        parse_smtp_url(ch.url, ch.secret)
    except ValueError as exc:
        errors.insert(0, f"url: {exc}")
    return errors


@register_channel("email", _check_email)
def _email(ch: Channel, ctx: ChannelContext) -> Notifier:
    from fenghuo.alerts.notifiers.email import EmailNotifier

    assert ch.url
    return EmailNotifier(ch.name, ch.url, ch.to, ch.secret, ch.timeout_seconds, ctx.public_url)


def _check_sms(ch: Channel) -> list[str]:
    from fenghuo.alerts.notifiers.sms import fill

    errors = [] if ch.url else ["url: a sms channel needs a url"]
    if not ch.to:
        errors.append("to: an SMS channel needs phone numbers")
    if ch.template is not None:
        try:
            fill(ch.template, {})
        except ValueError as exc:
            errors.append(f"template: {exc}")
    return errors


@register_channel("sms", _check_sms)
def _sms(ch: Channel, ctx: ChannelContext) -> Notifier:
    from fenghuo.alerts.notifiers.sms import SmsNotifier

    assert ch.url
    return SmsNotifier(ch.name, ch.url, ch.to, ch.template, ch.secret, ch.timeout_seconds)


__all__ = ["CHANNELS", "CHANNEL_MODULES", "ChannelContext", "ChannelRegistry", "ChannelType", "build_notifiers",
           "channel_errors", "register_channel"]
