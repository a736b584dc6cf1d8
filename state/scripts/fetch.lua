-- Read a batch's state in one call (state/redis.py builds ARGV).
-- ARGV: prefix, now, nkinds, {kind, window_s}*, nseries, {kind, id}*, nstores, {store_id}*,
--       nledger, {listing_key}*
-- Returns: {series members+scores}* , {banned, strikes, banned_at}*, {fp, verdict, emitted}*
local p = ARGV[1]
local now = tonumber(ARGV[2])
local i = 3
local window = {}
local nk = tonumber(ARGV[i]); i = i + 1
for _ = 1, nk do window[ARGV[i]] = tonumber(ARGV[i + 1]); i = i + 2 end
local out = {}
local ns = tonumber(ARGV[i]); i = i + 1
for _ = 1, ns do
  local kind, id = ARGV[i], ARGV[i + 1]; i = i + 2
  out[#out + 1] = redis.call('ZRANGEBYSCORE', p .. ':' .. kind .. ':' .. id,
    string.format('%.6f', now - window[kind]), '+inf', 'WITHSCORES')
end
local nst = tonumber(ARGV[i]); i = i + 1
for _ = 1, nst do
  out[#out + 1] = redis.call('HMGET', p .. ':store:' .. ARGV[i], 'banned', 'strikes', 'banned_at')
  i = i + 1
end
local nl = tonumber(ARGV[i]); i = i + 1
for _ = 1, nl do
  out[#out + 1] = redis.call('HMGET', p .. ':ledger:' .. ARGV[i], 'fp', 'v', 'e')
  i = i + 1
end
return out
