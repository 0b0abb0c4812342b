"""Supplier file drops: CSV files landed under `landing/<feed>/` are checked against the feed's schema, their good
rows written to curated and their bad rows quarantined with the reason, each file exactly once (`processing`)."""
