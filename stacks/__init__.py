"""The CDK app of retail-lake: one folder per domain (storage, ingestion), stage config in `stage_config`."""
