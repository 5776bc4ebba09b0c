"""fenghuo (烽火): risk early-warning and emergency response for grid-based community governance.

The kernel: domain models, settings, configuration, the grid registry, the bus and store ports,
the CLI and :func:`fenghuo.runtime.embedded.build_pipeline`, which assembles the whole service.
"""

__version__ = "0.1.0"
