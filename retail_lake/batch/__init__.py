"""The batch layer's logic: pure DataFrame -> DataFrame functions the Glue and EMR entry scripts share.

- `curated`: raw -> curated (cast to the contract, dedupe, event date, conformed keys, POS sale lines);
- `analytics`: curated -> analytics (daily sales, inventory position, customer 360, web sessions, funnel);
- `windows`: which raw partitions a run reads and which curated partitions it rewrites.

Nothing here reads or writes files, creates a SparkSession or imports Glue: the entry scripts do the I/O.
"""
