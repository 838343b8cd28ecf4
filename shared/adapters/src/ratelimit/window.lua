-- Reserves one send against one or more limits, all or nothing (DESIGN.md section 5).
-- Each limit is "at most count sends in any window of per milliseconds". A key holds the times
-- of the latest sends, oldest first, trimmed to the last count, so a check reads one element.
--
-- KEYS[i]: one limit's log.
-- ARGV[1]: now, in milliseconds of the caller's clock (see mod.rs for why not Redis TIME).
-- ARGV[2i], ARGV[2i+1]: count and per (milliseconds) of KEYS[i].
-- Returns {1, now} when every limit allows (and then each records the send), or {0, until}
-- when any refuses: until is the earliest time at which all of them would allow, and nothing
-- is recorded, so a refused call costs no capacity.
local now = tonumber(ARGV[1])
local refused = false
local wait_until = now
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i])
  local per = tonumber(ARGV[2 * i + 1])
  if redis.call('LLEN', key) >= count then
    -- The count-th latest send; the window has room again once it is per old.
    local free_at = tonumber(redis.call('LINDEX', key, -count)) + per
    if free_at > now then
      refused = true
      if free_at > wait_until then wait_until = free_at end
    end
  end
end
if refused then
  return {0, wait_until}
end
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i])
  local per = tonumber(ARGV[2 * i + 1])
  -- A replica whose clock lags may call with a now older than the latest entry; recording the
  -- later of the two keeps the log sorted, and a later time only holds the window shut longer.
  local at = math.max(now, tonumber(redis.call('LINDEX', key, -1) or now))
  -- Formatted as an integer: Lua holds numbers as doubles.
  redis.call('RPUSH', key, string.format('%d', at))
  redis.call('LTRIM', key, -count, -1)
  -- The log matters until its newest entry leaves the window; an idle key then vanishes.
  redis.call('PEXPIRE', key, string.format('%d', at - now + per))
end
return {1, now}
