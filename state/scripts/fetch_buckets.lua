-- Read bucket tables for a whole batch (state/bucket_codec.py builds ARGV).
-- ARGV: prefix, nkinds, then per kind: entry key base, first slot, last slot, ngroups,
--   {bucket key base, fields}* where fields packs one part's bucket values as 8-byte strings.
-- A bucket's value is a run of 12-character entry handles; the kind's entry hash (one per slot)
-- maps each handle to its record "<store>\31<ref>\30<time>". One HMGET per slot key reads a
-- whole part; one per slot then reads the records of the handles that slot's buckets named.
-- Returns, per kind: one flat list {field number (1-based), handles}* per group, then one flat
-- list {handle, record}* (a handle may come once per slot); finally one flat list
-- {store_id, banned, strikes, banned_at}* for every store named in those records that has a
-- status (read from the offender index in one HMGET, however many stores).
local H = 12
local CHUNK = 1000 -- fields per HMGET, well under Lua's unpack limit
local p = ARGV[1]
local nkinds = tonumber(ARGV[2])
local i = 3
local out, stores, seen_store = {}, {}, {}

local function live_slots(base, lo, hi)
  local slots = {}
  for slot = lo, hi do
    if redis.call('EXISTS', base .. ':' .. slot) == 1 then slots[#slots + 1] = slot end
  end
  return slots
end

for _ = 1, nkinds do
  local ebase, lo, hi, ngroups = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3])
  i = i + 4
  -- a handle's record lives in the entry hash of the slot whose bucket named it
  local handles, seen_handle = {}, {}
  for slot = lo, hi do handles[slot] = {}; seen_handle[slot] = {} end
  for _ = 1, ngroups do
    local base, packed = ARGV[i], ARGV[i + 1]
    i = i + 2
    local n = #packed / 8
    local found = {}
    local slots = live_slots(base, lo, hi)
    if #slots > 0 then
      for c0 = 0, n - 1, CHUNK do
        local fields = {}
        for j = c0 + 1, math.min(n, c0 + CHUNK) do
          fields[j - c0] = string.sub(packed, j * 8 - 7, j * 8)
        end
        for _, slot in ipairs(slots) do
          local values = redis.call('HMGET', base .. ':' .. slot, unpack(fields))
          local wanted, seen = handles[slot], seen_handle[slot]
          for k = 1, #values do
            local v = values[k]
            if v then
              found[c0 + k] = (found[c0 + k] or '') .. v
              for o = 1, #v, H do
                local h = string.sub(v, o, o + H - 1)
                if not seen[h] then seen[h] = true; wanted[#wanted + 1] = h end
              end
            end
          end
        end
      end
    end
    local flat = {}
    for j, v in pairs(found) do
      flat[#flat + 1] = j
      flat[#flat + 1] = v
    end
    out[#out + 1] = flat
  end
  local records = {}
  for slot = lo, hi do
    local wanted = handles[slot]
    for c0 = 0, #wanted - 1, CHUNK do
      local chunk = {}
      for j = c0 + 1, math.min(#wanted, c0 + CHUNK) do chunk[j - c0] = wanted[j] end
      local values = redis.call('HMGET', ebase .. ':' .. slot, unpack(chunk))
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
  out[#out + 1] = records
end

local statuses = {}
for c0 = 0, #stores - 1, CHUNK do
  local chunk = {}
  for j = c0 + 1, math.min(#stores, c0 + CHUNK) do chunk[j - c0] = stores[j] end
  local values = redis.call('HMGET', p .. ':offenders', unpack(chunk))
  for k = 1, #values do
    local v = values[k]
    if v then
      local banned, strikes, banned_at = string.match(v, '^([^,]*),([^,]*),(.*)$')
      statuses[#statuses + 1] = chunk[k]
      statuses[#statuses + 1] = banned
      statuses[#statuses + 1] = strikes
      statuses[#statuses + 1] = banned_at
    end
  end
end
out[#out + 1] = statuses
return out
