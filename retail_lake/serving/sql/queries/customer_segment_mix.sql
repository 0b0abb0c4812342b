-- Customer segment mix in the latest customer_360 snapshot: customers per RFM segment, their share of all
-- customers and their spend over the last year.
SELECT
    segment,
    COUNT(*) AS customers,
    ROUND(CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (), 4) AS share_of_customers,
    SUM(monetary) AS monetary_12m,
    ROUND(AVG(CAST(monetary AS DOUBLE)), 2) AS average_monetary_12m
FROM ${analytics}.v_customer_segments_latest
GROUP BY segment
ORDER BY customers DESC, segment
