-- Read a batch's state in one call (state/redis.py builds ARGV).
-- ARGV: prefix, now, nkinds, {kind, window_s}*, nexpand, {kind}*, nseries, {kind, id}*,
--       nstores, {store_id}*, nledger, {listing_key}*
-- Returns: {members+scores}* per series, {fp, verdict, emitted}* per ledger key, then one flat
-- list {store_id, banned, strikes, banned_at}* for the stores asked for and for the member
-- stores of the expanded kinds (members "<store_id>\31<rest>").
local p = ARGV[1]
local now = tonumber(ARGV[2])
local i = 3
local window, expand = {}, {}
local nk = tonumber(ARGV[i]); i = i + 1
for _ = 1, nk do window[ARGV[i]] = tonumber(ARGV[i + 1]); i = i + 2 end
local ne = tonumber(ARGV[i]); i = i + 1
for _ = 1, ne do expand[ARGV[i]] = true; i = i + 1 end
local out, stores, seen = {}, {}, {}
local function want_store(id)
  if not seen[id] then seen[id] = true; stores[#stores + 1] = id end
end
local ns = tonumber(ARGV[i]); i = i + 1
for _ = 1, ns do
  local kind, id = ARGV[i], ARGV[i + 1]; i = i + 2
  local rows = redis.call('ZRANGEBYSCORE', p .. ':' .. kind .. ':' .. id,
    string.format('%.6f', now - window[kind]), '+inf', 'WITHSCORES')
  out[#out + 1] = rows
  if expand[kind] then
    for j = 1, #rows, 2 do
      local m = rows[j]
      local cut = string.find(m, '\31', 1, true)
      want_store(cut and string.sub(m, 1, cut - 1) or m)
    end
  end
end
local nst = tonumber(ARGV[i]); i = i + 1
for _ = 1, nst do want_store(ARGV[i]); i = i + 1 end
local nl = tonumber(ARGV[i]); i = i + 1
for _ = 1, nl do
  out[#out + 1] = redis.call('HMGET', p .. ':ledger:' .. ARGV[i], 'fp', 'v', 'e')
  i = i + 1
end
local flat = {}
for _, id in ipairs(stores) do
  local s = redis.call('HMGET', p .. ':store:' .. id, 'banned', 'strikes', 'banned_at')
  if s[1] or s[2] then
    flat[#flat + 1] = id
    flat[#flat + 1] = s[1] or '0'
    flat[#flat + 1] = s[2] or '0'
    flat[#flat + 1] = s[3] or '0'
  end
end
out[#out + 1] = flat
return out
