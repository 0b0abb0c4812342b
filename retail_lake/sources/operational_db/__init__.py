"""The retailer's operational PostgreSQL store: its schema (`schema.sql`), the tables the lake replicates
(`tables`) and a workload that seeds it and applies a realistic stream of changes (`workload`)."""
