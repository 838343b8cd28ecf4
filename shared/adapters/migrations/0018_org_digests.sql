-- Digests for org contacts (DESIGN.md section 5): notices to an org's contact caused by events
-- are gathered per contact (org and phone), one SMS per contact per `notifier.digest_window_secs`.
-- The notifier writes both; nothing else reads them.

-- The SMS that carried a notice: itself when it went alone, an `org_digest` notification when it
-- was gathered (its status is then `gathered` until that digest settles, and it settles with
-- it); NULL for notices that are never gathered.
ALTER TABLE notifications ADD COLUMN digest_id uuid;
CREATE INDEX notifications_digest ON notifications (digest_id) WHERE digest_id IS NOT NULL;

-- One row per contact: when its last SMS of this kind went (or its digest is due), and the
-- digest still gathering, if any. Its row lock is what serializes the replicas' gathering and
-- the claim that closes a digest.
CREATE TABLE org_digest_contacts (
    org_id      text NOT NULL,
    phone       text NOT NULL,
    last_sms_at timestamptz,
    open_digest uuid,
    PRIMARY KEY (org_id, phone)
);
