"""Record: persist changed alerts and their outbox notifications in one transaction, then publish."""

from __future__ import annotations

from collections.abc import Callable

from alerts.stages import Change, Context
from fenghuo.store import Store

Publish = Callable[[list[Change]], None]


class Record:
    def __init__(self, store: Store, publish: Publish) -> None:
        self.store = store
        self.publish = publish

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        alerts = list({id(c.alert): c.alert for c in changes}.values())
        if alerts or ctx.notifications or ctx.state:
            self.store.save_alerts(alerts, ctx.notifications, ctx.state)
        if changes:
            self.publish(changes)
        return changes
