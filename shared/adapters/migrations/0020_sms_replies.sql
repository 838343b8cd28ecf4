-- Replies (上行短信, DESIGN.md section 5): members answer a reminder by SMS ("1", "没变", "退订",
-- or anything else). The notifier takes the providers' pushes on its receipts listener and
-- owns `sms_replies`; what a reply changes in the ledger reaches the registry as an event
-- (`registration.update`, `contact.recorded` of kind `reply`) through the notifier's outbox,
-- so the registry stays the only writer of the ledger's tables.

-- Every reply taken, matched or not. `id` is the UUID of (provider, phone, time, text)
-- (`hongyan_domain::replies::Reply::id`): a reply pushed twice is stored and acted on once.
-- `member_ids`: the members whose open record has the phone (two may share one); empty for a
-- phone that matched no open record (kept, nothing sent).
-- `meaning`: confirm, stop_reminders, other, or unmatched.
CREATE TABLE sms_replies (
    id          uuid PRIMARY KEY,
    provider    text NOT NULL,
    phone       text NOT NULL,
    sent_at     text NOT NULL,
    text        text NOT NULL,
    received_at timestamptz NOT NULL,
    member_ids  text[] NOT NULL,
    meaning     text NOT NULL
);
CREATE INDEX sms_replies_received ON sms_replies (received_at);
CREATE INDEX sms_replies_members ON sms_replies USING gin (member_ids);

-- The registry's read model for the notifier's replies: the open record with a phone, the
-- member's name, and the home branch with its contact (专人), who is told one to one.
CREATE INDEX flow_records_open_phone ON flow_records (phone) WHERE is_open;
CREATE VIEW notifier_reply_senders AS
SELECT f.phone,
       f.member_id,
       COALESCE(m.doc->>'name', f.member_id) AS name,
       f.home_org_id,
       b.name AS branch_name,
       b.contact AS branch_contact
FROM flow_records f
JOIN members m ON m.id = f.member_id
JOIN orgs b ON b.id = f.home_org_id
WHERE f.is_open;

-- The monthly reminder's read (scheduler/src/monthly/reminder.rs): each open record with the
-- member's name, phone, channels, last confirmation, and whether the member stopped the
-- reminder SMS (a 退订 reply; `FlowRecord::reminders_stopped`).
CREATE VIEW scheduler_reminder_records AS
SELECT r.member_id,
       COALESCE(m.doc->>'name', r.member_id) AS name,
       r.phone,
       m.doc->'channels' AS channels,
       r.last_confirmed_on,
       COALESCE((r.doc->>'reminders_stopped')::boolean, false) AS reminders_stopped
FROM flow_records r
JOIN members m ON m.id = r.member_id
WHERE r.is_open;
