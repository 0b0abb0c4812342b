-- Funnel conversion by channel over every day in the lake: sessions, sessions reaching each step, and the
-- share of sessions that added to cart, checked out and purchased.
SELECT
    channel,
    SUM(sessions) AS sessions,
    SUM(sessions_with_add_to_cart) AS sessions_with_add_to_cart,
    SUM(sessions_with_checkout) AS sessions_with_checkout,
    SUM(sessions_with_purchase) AS sessions_with_purchase,
    ROUND(CAST(SUM(sessions_with_add_to_cart) AS DOUBLE) / SUM(sessions), 4) AS add_to_cart_rate,
    ROUND(CAST(SUM(sessions_with_checkout) AS DOUBLE) / SUM(sessions), 4) AS checkout_rate,
    ROUND(CAST(SUM(sessions_with_purchase) AS DOUBLE) / SUM(sessions), 4) AS conversion_rate,
    SUM(revenue) AS revenue
FROM ${analytics}.conversion_funnel
GROUP BY channel
ORDER BY channel
