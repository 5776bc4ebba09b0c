"""Record: persist changed alerts, their outbox notifications and the caller's state in one transaction.

Publishing (the live board, the alerts topic) is the alert service's, after the step is kept: a
change is announced only once the store has it.
"""

from __future__ import annotations

from collections.abc import Callable

from fenghuo.alerts.stages import Change, Context
from fenghuo.core.store import Store

Publish = Callable[[list[Change]], None]


class Record:
    def __init__(self, store: Store) -> None:
        self.store = store

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        alerts = list({id(c.alert): c.alert for c in changes}.values())
        if alerts or ctx.notifications or ctx.state:
            self.store.save_alerts(alerts, ctx.notifications, ctx.state)
        return changes
