-- The analytics zone as an external schema (Redshift Spectrum over the Glue Data Catalog), read with the
-- namespace's default IAM role.
CREATE EXTERNAL SCHEMA IF NOT EXISTS ${external_schema}
FROM DATA CATALOG DATABASE '${analytics}'
IAM_ROLE default
