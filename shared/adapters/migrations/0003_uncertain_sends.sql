-- A send whose worker died before recording the answer is uncertain: it may have reached the
-- provider. It waits for a receipt before being sent again (PROVIDERS.md: SMS sends are not
-- idempotent at the provider).
ALTER TABLE notifications ADD COLUMN uncertain_since timestamptz;
