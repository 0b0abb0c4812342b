"""Change data capture from the operational store: the DMS S3 target's layout (`layout`), the task's table
mappings (`table_mappings.json`) and the merge of change files into curated (`merge`)."""
