"""The catalog: registered sources, versioned schema snapshots, semantic mappings.

* :mod:`nlquery.catalog.store`: tables and upgrade steps (SQLAlchemy Core).
* :mod:`nlquery.catalog.catalog`: sources, snapshots and mappings.
* :mod:`nlquery.catalog.validation`: names, connection settings and source settings, checked.
* :mod:`nlquery.catalog.secrets`: credentials encrypted at rest.
* :mod:`nlquery.catalog.diff`: what changed between snapshots.
* :mod:`nlquery.catalog.hints`: distinct values of low-cardinality columns.
"""

from nlquery.catalog.catalog import Catalog, ConnectionSettings, Snapshot, SourceRecord

__all__ = ["Catalog", "ConnectionSettings", "Snapshot", "SourceRecord"]
