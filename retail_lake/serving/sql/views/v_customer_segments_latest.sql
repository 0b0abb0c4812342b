-- Customers of the latest customer_360 snapshot with their RFM segment.
CREATE OR REPLACE VIEW ${analytics}.v_customer_segments_latest AS
SELECT
    c.as_of_date,
    c.customer_id,
    c.segment,
    c.rfm_score,
    c.recency_days,
    c.frequency,
    c.monetary,
    c.lifetime_value
FROM ${analytics}.customer_360 AS c
WHERE c.as_of_date = (SELECT MAX(as_of_date) FROM ${analytics}.customer_360)
