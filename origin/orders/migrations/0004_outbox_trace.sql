-- The W3C traceparent of the request that caused an event (tracing on and
-- sampled), so the relay and the consumers continue its trace.
ALTER TABLE orders_outbox ADD COLUMN trace TEXT;
