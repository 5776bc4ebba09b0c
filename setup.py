"""One installed namespace, ``fenghuo``, while the repository keeps the stage folders at the top.

ingest/ installs as fenghuo.ingest, detectors/ as fenghuo.detectors, alerts/ as fenghuo.alerts and
api/ as fenghuo.api; the kernel (fenghuo/core), the runtimes and the CLI live in fenghuo/ itself.
Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

STAGES = ("ingest", "detectors", "alerts", "api")

# namespace-aware here too, so data-only folders (fenghuo/drills/scenarios) are listed as packages and setuptools
# does not warn that they are missing from the list
packages = [name for name in find_namespace_packages(include=["fenghuo", "fenghuo.*"]) if "__pycache__" not in name]
for stage in STAGES:
    # namespace-aware, so data folders (api/static, detectors/text/data) are listed as setuptools wants them
    packages += [f"fenghuo.{name}" for name in find_namespace_packages(include=[stage, f"{stage}.*"])
                 if "__pycache__" not in name]

setup(packages=packages, package_dir={f"fenghuo.{stage}": stage for stage in STAGES})
