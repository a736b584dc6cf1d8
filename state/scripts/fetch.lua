-- Read a batch's series and ledger entries in one call. ARGV: prefix, now, the series part as
-- one JSON document ('' when the batch asks for no series; state/redis.py builds it), then the
-- listing keys whose ledger entries to read, as they are (no document to decode for them).
-- The series document: {"windows": {kind: seconds}, "expand": [kind...],
-- "series": [[kind, id]...], "stores": [store_id...]}.
-- Returns: {members+scores}* per series, {fp, verdict, emitted}* per ledger key, then one flat
-- list {store_id, banned, strikes, banned_at}* for the stores asked for and for the member
-- stores of the expanded kinds (members "<store_id>\31<rest>").
local p, now, doc = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out, stores, seen = {}, {}, {}
local function want_store(id)
  if not seen[id] then seen[id] = true; stores[#stores + 1] = id end
end
if doc ~= '' then
  local q = cjson.decode(doc)
  local expand = {}
  for _, kind in ipairs(q.expand) do expand[kind] = true end
  for _, s in ipairs(q.series) do
    local kind, id = s[1], s[2]
    local rows = redis.call('ZRANGEBYSCORE', p .. ':' .. kind .. ':' .. id,
      string.format('%.6f', now - q.windows[kind]), '+inf', 'WITHSCORES')
    out[#out + 1] = rows
    if expand[kind] then
      for j = 1, #rows, 2 do
        local m = rows[j]
        local cut = string.find(m, '\31', 1, true)
        want_store(cut and string.sub(m, 1, cut - 1) or m)
      end
    end
  end
  for _, id in ipairs(q.stores) do want_store(id) end
end
local ledger = p .. ':ledger:'
for i = 4, #ARGV do
  out[#out + 1] = redis.call('HMGET', ledger .. ARGV[i], 'fp', 'v', 'e')
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
