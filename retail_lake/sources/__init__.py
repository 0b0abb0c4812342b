"""Batch and database sources of the lake: the operational PostgreSQL store and its change data capture
(`operational_db`, `cdc`), supplier file drops (`file_drops`) and external REST APIs (`external_apis`)."""
