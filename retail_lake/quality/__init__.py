"""Data quality: rules declared once per dataset (`retail_lake/contracts/rules/<dataset>.yaml`), applied
row by row between raw and curated (bad rows to quarantine) and as a gate between curated and analytics,
with Deequ on AWS and Great Expectations wherever the Deequ jar is not on the classpath. See docs/quality.md.
"""
