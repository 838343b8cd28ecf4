-- The console's department screens (DESIGN.md section 12; issue 18): the 工作台's to-do lists,
-- 分布, 调度's spot-check results, 消息. What the api reads of other roles' tables is published
-- here as views named for it; the one table it writes is its own (console_spot_checks).

-- The registry's open records as the console's 工作台 and 分布 read them: where the record is,
-- the day its months are counted from, the contacts that count as organizational life, and
-- the flags the to-do lists follow. `members` is LEFT JOINed on its key, so a query that does
-- not ask for the name reads flow_records alone (PostgreSQL removes the join).
CREATE VIEW console_open_records AS
SELECT r.member_id,
       COALESCE(m.doc->>'name', r.member_id) AS member_name,
       r.home_org_id,
       r.inflow_org_id,
       r.status,
       r.region_code,
       r.last_confirmed_on,
       COALESCE(r.last_confirmed_on, (r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date,
                r.opened_at::date) AS confirmed_on,
       (r.doc#>>'{contacts,talk}')::date AS talk,
       (r.doc#>>'{contacts,family_visit}')::date AS family_visit,
       GREATEST((r.doc#>>'{contacts,talk}')::date, (r.doc#>>'{contacts,family_visit}')::date,
                (r.doc#>>'{contacts,home_meeting}')::date,
                (r.doc#>>'{contacts,phone}')::date) AS contact_on,
       COALESCE((r.doc->>'transfer_suggested')::boolean, false) AS transfer_suggested
FROM flow_records r
LEFT JOIN members m ON m.id = r.member_id
WHERE r.is_open;

-- 分布 groups a subtree's open records by place: where each is, read from the index alone
-- (a view of flow_records only, so the planner can answer it with an index-only scan).
CREATE VIEW console_open_places AS
SELECT r.home_org_id, r.region_code FROM flow_records r WHERE r.is_open;
CREATE INDEX flow_records_home_region ON flow_records (home_org_id, region_code) WHERE is_open;
-- The 工作台 of an inflow org or station also counts the records checked in with it.
CREATE INDEX flow_records_inflow ON flow_records (inflow_org_id) WHERE is_open AND inflow_org_id IS NOT NULL;

-- The latest completed study pack of a member (organizational life for the lapse warning), and
-- who completed which pack, for 学习's completion per org.
CREATE VIEW console_study_completions AS
SELECT c.member_id, c.pack_id, c.completed_on, m.home_org_id
FROM study_completions c JOIN members m ON m.id = c.member_id;

-- Spot checks (抽查) of the quarterly dispatch: the result a department records for each member
-- the report drew. The report is the scheduler's (dispatch_reports); the results are the api's
-- own, written by the console and read with the report. The latest result per member stands.
CREATE TABLE console_spot_checks (
    report_id  uuid NOT NULL,
    member_id  text NOT NULL,
    -- found: 情况属实; changed: 信息有变化 (to be updated); unreachable: 未联系上.
    result     text NOT NULL CHECK (result IN ('found', 'changed', 'unreachable')),
    note       text NOT NULL DEFAULT '',
    checked_by text NOT NULL,
    checked_at timestamptz NOT NULL,
    PRIMARY KEY (report_id, member_id)
);

-- The notifier's notifications as the console's 消息 lists them: the org they concern (the
-- recipient's org, else the member's home branch, else a broadcast's org), the recipient's name
-- and masked phone (never the whole number), and how it stands.
CREATE VIEW console_notifications AS
SELECT n.id,
       n.key,
       n.template,
       n.channels[n.channel_index + 1] AS channel,
       n.status,
       n.attempts,
       n.last_error,
       n.created_at,
       n.updated_at,
       COALESCE(n.recipient->>'org_id', m.home_org_id, n.audience_org) AS org_id,
       n.recipient->>'name' AS recipient_name,
       CASE WHEN length(n.recipient->>'phone') = 11
            THEN left(n.recipient->>'phone', 3) || '****' || right(n.recipient->>'phone', 4)
            ELSE '' END AS recipient_phone,
       n.audience_org IS NOT NULL AS broadcast
FROM notifications n
LEFT JOIN members m ON m.id = n.recipient->>'member_id';
-- 消息 pages newest first, and its failed ones.
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_failed ON notifications (created_at) WHERE status = 'failed';

-- A failed notification's request, as the notifier stored it, for a department's replay from
-- 消息: the console sends the request back to the notifier's queue marked as replayed (what
-- `hongyan parked replay` does with the parked copy), and the notifier's intake revives it. The
-- console never changes the notifier's table.
CREATE VIEW console_notification_requests AS
SELECT n.id, n.key, n.template, n.recipient, n.audience_org, n.params, n.caused_by, n.status
FROM notifications n;
