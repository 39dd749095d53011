-- Raw events: every event the loader accepted, with the measures the
-- rollups add up already extracted (ClickHouse 18.16 has no JSON path
-- functions for nested payloads). ReplacingMergeTree on the event id is the
-- second line of defence against duplicates; the loader skips ids it
-- already loaded, so the materialized views below see each event once.
CREATE TABLE IF NOT EXISTS events (
    id String,
    event_type String,
    version UInt16,
    occurred_at DateTime,
    day Date,
    region String,
    aggregate_id String,
    payload String,
    stage String,
    currency String,
    subs Nested(seller String, cents Int64),
    lines Nested(seller String, product String, units UInt32, cents Int64),
    refund_seller String,
    refund_cents Int64,
    rating_seller String,
    rating_product String,
    ratings Int8,
    stars Int16,
    delivery_seller String,
    carrier String,
    delivery_seconds Int64,
    loaded_at DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY id;

-- Messages the loader could not use, with the reason; one row per source
-- (topic/partition/offset), so a redelivered bad message is parked once.
CREATE TABLE IF NOT EXISTS dead_letters (
    source String,
    message_key String,
    raw String,
    reason String,
    received_at DateTime
) ENGINE = ReplacingMergeTree
ORDER BY source;
