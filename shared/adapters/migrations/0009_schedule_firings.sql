-- Fire keys (DESIGN.md section 4): a schedule fires once per due time across every replica.
-- The row is inserted in the same transaction as the firing's outbox rows and ledger changes,
-- so the work and the key commit together or not at all; a replica that finds the key taken
-- does nothing. A due time missed for longer than `schedules.grace_minutes` is recorded as
-- skipped, so it is reported once; `hongyan schedule run` may still fire it by hand.
CREATE TABLE schedule_firings (
    schedule text NOT NULL,
    due      timestamptz NOT NULL,
    outcome  text NOT NULL CHECK (outcome IN ('fired', 'skipped')),
    -- Outbox rows the firing wrote.
    rows     bigint NOT NULL DEFAULT 0,
    -- By `hongyan schedule run` rather than the scheduler's clock.
    by_hand  boolean NOT NULL DEFAULT false,
    at       timestamptz NOT NULL,
    PRIMARY KEY (schedule, due)
);
