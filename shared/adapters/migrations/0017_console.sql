-- The console (DESIGN.md section 12): its people, their sign-in codes and sessions. Written by
-- the api role and `hongyan users` only; no other role reads them.

-- A person at one org who may sign in with their phone. A phone belongs to one active user.
CREATE TABLE console_users (
    id         text PRIMARY KEY,
    org_id     text NOT NULL,
    name       text NOT NULL,
    phone      text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX console_users_active_phone ON console_users (phone) WHERE revoked_at IS NULL;
CREATE INDEX console_users_org ON console_users (org_id);

-- Every code asked for, also for a phone nobody registered (user_id NULL, no SMS sent), so the
-- limits per phone and per client address count alike and say nothing about who is registered.
CREATE TABLE console_codes (
    id         uuid PRIMARY KEY,
    phone      text NOT NULL,
    user_id    text REFERENCES console_users (id),
    code_hash  text NOT NULL,
    client     text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    tries_left integer NOT NULL,
    used_at    timestamptz
);
CREATE INDEX console_codes_phone ON console_codes (phone, created_at);
CREATE INDEX console_codes_client ON console_codes (client, created_at);

-- Code entries per client address, for the hourly limit on guesses.
CREATE TABLE console_code_entries (
    client text NOT NULL,
    at     timestamptz NOT NULL
);
CREATE INDEX console_code_entries_client ON console_code_entries (client, at);

-- Server-side sessions: the cookie holds a random id, only its SHA-256 is stored. `form_token`
-- is the token every form of the session carries.
CREATE TABLE console_sessions (
    id_hash      text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES console_users (id),
    form_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ended_at     timestamptz
);

-- What the console reads of the notifier's table (the notifier owns it): the messages sent to
-- one member, for the member's page. Masked phones only: the recipient's phone is not here.
CREATE INDEX notifications_member ON notifications ((recipient->>'member_id'))
    WHERE recipient IS NOT NULL;
CREATE VIEW console_member_messages AS
SELECT n.id,
       n.recipient->>'member_id' AS member_id,
       n.template,
       n.channels[n.channel_index + 1] AS channel,
       n.status,
       n.attempts,
       n.last_error,
       n.created_at,
       n.updated_at
FROM notifications n
WHERE n.recipient IS NOT NULL;

-- The registry's members as the console lists them (外出登记's 党员): name, home branch, and
-- whether an open record exists (a member away cannot leave again).
CREATE VIEW console_members AS
SELECT m.id,
       COALESCE(m.doc->>'name', m.id) AS name,
       m.home_org_id,
       EXISTS (SELECT 1 FROM flow_records r WHERE r.member_id = m.id AND r.is_open) AS away
FROM members m;
