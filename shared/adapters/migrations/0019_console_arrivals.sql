-- The console's 报到登记 (DESIGN.md section 12) and the result boxes of its forms.
--
-- A station clerk finds the member arriving by 活动证编号 or 手机号码 among the open records
-- (name, masked phone, home branch): the registry's open records with the member's name and
-- home branch, read by the API. The registry stays the only writer; this is its published
-- read model, named for its reader.
CREATE VIEW console_arrivals AS
SELECT r.member_id,
       COALESCE(m.doc->>'name', r.member_id) AS member_name,
       r.phone,
       r.certificate_no,
       r.status,
       r.region_code,
       r.doc#>>'{location,address}' AS address,
       r.doc#>>'{location,employer}' AS employer,
       r.doc#>>'{location,employer_type}' AS employer_type,
       home.name AS home_org_name
FROM flow_records r
JOIN members m ON m.id = r.member_id
JOIN orgs home ON home.id = r.home_org_id
WHERE r.is_open;

-- (0020 indexes open records by phone, which the lookup uses too.)

-- What became of an event a console form sent: its history line (applied, or kept without
-- changing the current state; a member, or none for an arrival on the unmatched list).
CREATE VIEW console_event_outcomes AS
SELECT h.event_id, h.event_type, h.member_id, h.applied, h.note
FROM history h;

CREATE INDEX history_event ON history (event_id);

-- The orgs a departure may name as the place the member will report to (外出登记's 报到地点):
-- stations and the inflow area's party organizations, by region.
CREATE VIEW console_receivers AS
SELECT o.id, o.name, o.kind, o.region_code
FROM orgs o
WHERE o.kind <> 'department';
