"""The distributed runtime's alert service (see :mod:`.worker`)."""

from fenghuo.runtime.kafka.alert_service.worker import AlertWorker, make_alert_worker

__all__ = ["AlertWorker", "make_alert_worker"]
