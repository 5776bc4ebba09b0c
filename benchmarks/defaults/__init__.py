"""One rule for the ``anomaly`` detector's defaults across NAB, SKAB and Storm Gloria (``make bench-defaults``)."""
