-- Data-quality failures by dataset: per gate run date and dataset, the rules that failed (errors block the
-- pipeline, warnings do not) and the rows that broke them.
SELECT
    run_date,
    dataset,
    COUNT(*) AS failed_rules,
    COUNT_IF(level = 'error') AS failed_error_rules,
    COUNT_IF(level = 'warning') AS failed_warning_rules,
    SUM(COALESCE(failing_rows, 0)) AS failing_rows
FROM ${quality}.quality_results
WHERE status = 'failed'
GROUP BY run_date, dataset
ORDER BY run_date DESC, dataset
