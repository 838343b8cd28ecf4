-- DESIGN.md section 8, "No message is unroutable for want of a role": an outbox row the broker
-- returned anyway (no queue bound for its key: a misconfiguration) is set aside with the reason
-- and a time to try again, so it never holds back the rows behind it. `hongyan parked list`
-- shows these rows beside the parked queue.
ALTER TABLE outbox
    ADD COLUMN retry_at timestamptz,
    ADD COLUMN returned_reason text,
    ADD COLUMN returns integer NOT NULL DEFAULT 0;

CREATE INDEX outbox_set_aside ON outbox (retry_at) WHERE retry_at IS NOT NULL;
