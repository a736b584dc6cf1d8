-- Write a batch's state atomically (a script runs alone): series additions, trimmed to their
-- window and cap, and the ledger of screened listing revisions.
-- ARGV: prefix, now, ledger_ttl_s, nkinds, {kind, window_s, max_members}*, nadds,
--       {kind, id, member, event_time}*, nledger, {listing_key, fingerprint, verdict}*
local p = ARGV[1]
local now = tonumber(ARGV[2])
local ledger_ttl = tonumber(ARGV[3])
local i = 4
local window, cap = {}, {}
local nk = tonumber(ARGV[i]); i = i + 1
for _ = 1, nk do
  window[ARGV[i]] = tonumber(ARGV[i + 1]); cap[ARGV[i]] = tonumber(ARGV[i + 2]); i = i + 3
end
local touched = {}
local na = tonumber(ARGV[i]); i = i + 1
for _ = 1, na do
  local kind = ARGV[i]
  local key = p .. ':' .. kind .. ':' .. ARGV[i + 1]
  -- GT: a member seen again keeps its newest time; a new member is added.
  redis.call('ZADD', key, 'GT', ARGV[i + 3], ARGV[i + 2])
  touched[key] = kind
  i = i + 4
end
for key, kind in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%.6f', now - window[kind]))
  local n = redis.call('ZCARD', key)
  if n > cap[kind] then redis.call('ZREMRANGEBYRANK', key, 0, n - cap[kind] - 1) end
  -- wall-clock expiry a day past the event-time window, so idle series leave Redis
  redis.call('EXPIRE', key, math.ceil(window[kind] + 86400))
end
local nl = tonumber(ARGV[i]); i = i + 1
for _ = 1, nl do
  local key = p .. ':ledger:' .. ARGV[i]
  redis.call('HSET', key, 'fp', ARGV[i + 1], 'v', ARGV[i + 2], 'e', '0')
  redis.call('EXPIRE', key, ledger_ttl)
  i = i + 3
end
return na
