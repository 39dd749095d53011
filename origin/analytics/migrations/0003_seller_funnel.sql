-- Cart → checkout → paid of one seller: distinct carts that took one of the
-- seller's products, and distinct placed / paid orders with a sub-order of
-- theirs, per day. Those events name their sellers in `subs.seller` (with
-- zero cents on cart and checkout events, which the sales views ignore).
CREATE TABLE IF NOT EXISTS seller_funnel_daily (
    day Date,
    seller String,
    stage String,
    entities AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (seller, day, stage);

CREATE MATERIALIZED VIEW IF NOT EXISTS seller_funnel_daily_mv TO seller_funnel_daily AS
SELECT day, subs.seller AS seller, stage, uniqExactState(aggregate_id) AS entities
FROM events ARRAY JOIN subs
WHERE stage != ''
GROUP BY day, seller, stage;
