-- The checkout sweeper looks for keys left without an answer whose lease
-- ended long ago; answered keys (nearly all of them) stay out of the index.
CREATE INDEX IF NOT EXISTS checkout_keys_unanswered_idx ON checkout_keys (lease_until) WHERE response IS NULL;
