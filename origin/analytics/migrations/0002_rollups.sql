-- Sales per seller, day and region: paid sub-orders and their totals, and
-- refunds (cancelled or refunded sub-orders).
CREATE TABLE IF NOT EXISTS sales_daily (
    day Date,
    region String,
    seller String,
    currency String,
    orders UInt64,
    gross_cents Int64,
    refunded_cents Int64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (seller, day, region, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS sales_daily_paid TO sales_daily AS
SELECT day, region, subs.seller AS seller, currency,
       toUInt64(1) AS orders, subs.cents AS gross_cents, toInt64(0) AS refunded_cents
FROM events ARRAY JOIN subs
WHERE event_type = 'orders.order.paid';

CREATE MATERIALIZED VIEW IF NOT EXISTS sales_daily_refunds TO sales_daily AS
SELECT day, region, refund_seller AS seller, currency,
       toUInt64(0) AS orders, toInt64(0) AS gross_cents, refund_cents AS refunded_cents
FROM events
WHERE refund_seller != '';

-- Units and item value per product and day.
CREATE TABLE IF NOT EXISTS product_sales_daily (
    day Date,
    seller String,
    product String,
    currency String,
    units UInt64,
    gross_cents Int64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (seller, product, day, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS product_sales_daily_mv TO product_sales_daily AS
SELECT day, lines.seller AS seller, lines.product AS product, currency,
       toUInt64(lines.units) AS units, lines.cents AS gross_cents
FROM events ARRAY JOIN lines
WHERE event_type = 'orders.order.paid';

-- Cart → checkout → paid: distinct carts and orders per day and region,
-- as mergeable states so a range counts each entity once.
CREATE TABLE IF NOT EXISTS funnel_daily (
    day Date,
    region String,
    stage String,
    entities AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, region, stage);

CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_daily_mv TO funnel_daily AS
SELECT day, region, stage, uniqExactState(aggregate_id) AS entities
FROM events
WHERE stage != ''
GROUP BY day, region, stage;

-- Ratings per product and day: new ratings and the stars they add (an
-- edited review adds its change of stars, not a new rating).
CREATE TABLE IF NOT EXISTS ratings_daily (
    day Date,
    seller String,
    product String,
    ratings Int64,
    stars Int64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, seller, product);

CREATE MATERIALIZED VIEW IF NOT EXISTS ratings_daily_mv TO ratings_daily AS
SELECT day, rating_seller AS seller, rating_product AS product,
       toInt64(ratings) AS ratings, toInt64(stars) AS stars
FROM events
WHERE event_type = 'reviews.review.submitted';

-- Delivery times per carrier, seller and day.
CREATE TABLE IF NOT EXISTS deliveries_daily (
    day Date,
    region String,
    seller String,
    carrier String,
    deliveries UInt64,
    seconds Int64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, carrier, seller, region);

CREATE MATERIALIZED VIEW IF NOT EXISTS deliveries_daily_mv TO deliveries_daily AS
SELECT day, region, delivery_seller AS seller, carrier,
       toUInt64(1) AS deliveries, delivery_seconds AS seconds
FROM events
WHERE delivery_seller != '';
