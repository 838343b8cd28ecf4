-- Broadcasts (DESIGN.md section 5): a notification is for one person (`recipient`) or for an
-- organization's members as a group (`audience_org`), never both.
ALTER TABLE notifications ALTER COLUMN recipient DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN audience_org text;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_audience
    CHECK ((recipient IS NULL) <> (audience_org IS NULL));

-- An outbox message may be a copy for `hongyan.parked` instead of an event: a notification
-- that failed for good is parked with its reason and the queue a replay sends it back to.
ALTER TABLE outbox ADD COLUMN park_reason text;
ALTER TABLE outbox ADD COLUMN park_source_queue text;
