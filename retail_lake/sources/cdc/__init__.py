"""Change data capture from the operational store: the DMS S3 target's layout (`layout`), the task's table
mappings (`table_mappings.json`), the merge of change files into curated with personal columns pseudonymized
(`merge`), the comparison of curated with the database (`reconcile`) and the search of the shared zones for personal
values in clear text (`privacy_audit`)."""
