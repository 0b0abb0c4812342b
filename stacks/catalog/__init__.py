"""The Glue Data Catalog of the lake: databases and tables whose schemas are derived from the contracts."""

from stacks.catalog.raw_zone_catalog import RawZoneCatalog
from stacks.catalog.raw_zone_catalog_props import RawZoneCatalogProps, glue_database_name
from stacks.catalog.zone_tables import ZoneTables

__all__ = ["RawZoneCatalog", "RawZoneCatalogProps", "ZoneTables", "glue_database_name"]
