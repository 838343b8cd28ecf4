-- Reserves sends against their limits (DESIGN.md section 5), each send all or nothing, in the
-- order given: one call serves a whole round of sends, and a later send sees what an earlier
-- one reserved.
-- Each limit is "at most count sends in any window of per milliseconds". A key holds the times
-- of the latest sends, oldest first, trimmed to the last count, so a check reads one element.
--
-- KEYS: every send's limits' logs, send after send.
-- ARGV[1]: now, in milliseconds of the caller's clock (see mod.rs for why not Redis TIME).
-- Then per send: its number of limits n, then n pairs of count and per (milliseconds), for
-- its n keys in KEYS.
-- Returns one number per send: 0 when every one of its limits allows (and then each records
-- the send), or the earliest time at which all of them would allow, when any refuses; nothing
-- is then recorded, so a refused send costs no capacity.
local now = tonumber(ARGV[1])
local answers = {}
local k, a = 1, 2
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local refused = false
  local wait_until = now
  -- Each key's length, read once: the record below needs it too.
  local lengths = {}
  for i = 0, n - 1 do
    local key = KEYS[k + i]
    local count = tonumber(ARGV[a + 1 + 2 * i])
    local per = tonumber(ARGV[a + 2 + 2 * i])
    local length = redis.call('LLEN', key)
    lengths[i] = length
    if length >= count then
      -- The count-th latest send; the window has room again once it is per old.
      local free_at = tonumber(redis.call('LINDEX', key, -count)) + per
      if free_at > now then
        refused = true
        if free_at > wait_until then wait_until = free_at end
      end
    end
  end
  if refused then
    answers[#answers + 1] = wait_until
  else
    for i = 0, n - 1 do
      local key = KEYS[k + i]
      local count = tonumber(ARGV[a + 1 + 2 * i])
      local per = tonumber(ARGV[a + 2 + 2 * i])
      -- A replica whose clock lags may call with a now older than the latest entry; recording
      -- the later of the two keeps the log sorted, and a later time only holds the window shut
      -- longer.
      local at = now
      if lengths[i] > 0 then
        at = math.max(now, tonumber(redis.call('LINDEX', key, -1)))
      end
      -- Formatted as an integer: Lua holds numbers as doubles. The log keeps the last count.
      if redis.call('RPUSH', key, string.format('%d', at)) > count then
        redis.call('LTRIM', key, -count, -1)
      end
      -- The log matters until its newest entry leaves the window; an idle key then vanishes.
      redis.call('PEXPIRE', key, string.format('%d', at - now + per))
    end
    answers[#answers + 1] = 0
  end
  k = k + n
  a = a + 1 + 2 * n
end
return answers
