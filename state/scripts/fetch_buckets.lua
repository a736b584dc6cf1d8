-- Read bucket tables for a whole batch (state/bucket_codec.py builds ARGV).
-- ARGV: prefix, nkinds, then per kind: entry key base, first slot, last slot, ngroups,
--   {bucket key base, fields}* where fields packs one part's bucket values as 8-byte strings.
-- A bucket's value is a run of 12-character entry handles; the kind's entry hash (one per slot)
-- maps each handle to its record "<store>\31<ref>\30<time>". One HMGET per slot key reads a
-- whole part, a second one per slot reads the records of every handle found.
-- Returns, per kind: one flat list {field number (1-based), handles}* per group, then one flat
-- list {handle, record}* (a handle may come once per slot); finally one flat list
-- {store_id, banned, strikes, banned_at}* for every store named in those records.
local H = 12
local CHUNK = 1000 -- fields per HMGET, well under Lua's unpack limit
local p = ARGV[1]
local nkinds = tonumber(ARGV[2])
local i = 3
local out, stores, seen_store = {}, {}, {}

local function live_keys(base, lo, hi)
  local keys = {}
  for slot = lo, hi do
    local key = base .. ':' .. slot
    if redis.call('EXISTS', key) == 1 then keys[#keys + 1] = key end
  end
  return keys
end

for _ = 1, nkinds do
  local ebase, lo, hi, ngroups = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3])
  i = i + 4
  local handles, seen_handle = {}, {}
  for _ = 1, ngroups do
    local base, packed = ARGV[i], ARGV[i + 1]
    i = i + 2
    local n = #packed / 8
    local found = {}
    local keys = live_keys(base, lo, hi)
    if #keys > 0 then
      for c0 = 0, n - 1, CHUNK do
        local fields = {}
        for j = c0 + 1, math.min(n, c0 + CHUNK) do
          fields[j - c0] = string.sub(packed, j * 8 - 7, j * 8)
        end
        for _, key in ipairs(keys) do
          local values = redis.call('HMGET', key, unpack(fields))
          for k = 1, #values do
            local v = values[k]
            if v then found[c0 + k] = (found[c0 + k] or '') .. v end
          end
        end
      end
    end
    local flat = {}
    for j, v in pairs(found) do
      flat[#flat + 1] = j
      flat[#flat + 1] = v
      for o = 1, #v, H do
        local h = string.sub(v, o, o + H - 1)
        if not seen_handle[h] then seen_handle[h] = true; handles[#handles + 1] = h end
      end
    end
    out[#out + 1] = flat
  end
  local records = {}
  if #handles > 0 then
    for _, key in ipairs(live_keys(ebase, lo, hi)) do
      for c0 = 0, #handles - 1, CHUNK do
        local chunk = {}
        for j = c0 + 1, math.min(#handles, c0 + CHUNK) do chunk[j - c0] = handles[j] end
        local values = redis.call('HMGET', key, unpack(chunk))
        for k = 1, #values do
          local v = values[k]
          if v then
            records[#records + 1] = chunk[k]
            records[#records + 1] = v
            local store = string.match(v, '^[^\30\31]*')
            if not seen_store[store] then seen_store[store] = true; stores[#stores + 1] = store end
          end
        end
      end
    end
  end
  out[#out + 1] = records
end

local statuses = {}
for _, id in ipairs(stores) do
  local s = redis.call('HMGET', p .. ':store:' .. id, 'banned', 'strikes', 'banned_at')
  if s[1] or s[2] then
    statuses[#statuses + 1] = id
    statuses[#statuses + 1] = s[1] or '0'
    statuses[#statuses + 1] = s[2] or '0'
    statuses[#statuses + 1] = s[3] or '0'
  end
end
out[#out + 1] = statuses
return out
