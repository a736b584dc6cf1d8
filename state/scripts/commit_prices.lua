-- Add a batch's price observations and keep recomputed baselines (layout in
-- state/price_ring.py), atomically. ARGV[1] is one JSON document:
-- {"p": prefix, "ttl": s, "groups": [[group, rows, cap]...],
--  "baselines": [[group, digest, version, computed_at, text]...]}
-- ARGV[2] holds the rows' 16-byte records and ARGV[3] their 8-byte listing digests, group after
-- group in the order of "groups" (each group once). A row whose digest the group's ring
-- already holds (or that came earlier in this call) is skipped: a redelivered listing adds
-- nothing. New rows take the next slots (n mod cap onwards, wrapping), overwriting the
-- oldest, and n grows by their number. Rings are read and patched in place (GETRANGE of header
-- and digests, SETRANGE of what changed): whole rings never enter Lua. A baseline is kept only
-- if it is newer (version, then computed_at) than the stored one for its spec. Returns the
-- number of rows added.
local q = cjson.decode(ARGV[1])
local records, digests = ARGV[2], ARGV[3]
local p, ttl = q.p, q.ttl
local HEADER, DIGEST, RECORD = 32, 8, 16
local sub, find = string.sub, string.find

--@include _mget_chunked.lua

local function header(n, cap)
  return string.format('%016d%016d', n, cap)
end

-- a ring laid out for another cap, rewritten for this one: its newest min(cap, held)
-- observations, placed so that the next one still goes to slot n mod cap (rare: the sample
-- size changed)
local function relayout(key, cap)
  local ring = redis.call('GET', key)
  local n = tonumber(string.sub(ring, 1, 16)) or 0
  local old = tonumber(string.sub(ring, 17, 32)) or 0
  if n < 0 or old <= 0 or #ring < HEADER + old * DIGEST + math.min(n, old) * RECORD then
    redis.call('DEL', key) -- not a ring this script wrote: start afresh
    return
  end
  local keep = math.min(n, old, cap)
  local digs, recs = {}, {}
  local zero_digest, zero_record = string.rep('\0', DIGEST), string.rep('\0', RECORD)
  for s = 1, cap do digs[s], recs[s] = zero_digest, zero_record end
  for seq = n - keep, n - 1 do
    local from, to = seq % old, seq % cap
    digs[to + 1] = string.sub(ring, HEADER + from * DIGEST + 1, HEADER + (from + 1) * DIGEST)
    local r = HEADER + old * DIGEST + from * RECORD
    recs[to + 1] = string.sub(ring, r + 1, r + RECORD)
  end
  redis.call('SET', key, header(n, cap) .. table.concat(digs) .. table.concat(recs))
end

-- rows fresh[from..to] of a blob of fixed-width rows; in one piece when they are contiguous
-- (the common case: every row of the group is new)
local function rows_of(fresh, from, to, blob, width)
  if fresh[to] - fresh[from] == to - from then
    return sub(blob, fresh[from] * width + 1, (fresh[to] + 1) * width)
  end
  local parts = {}
  for j = from, to do
    parts[#parts + 1] = sub(blob, fresh[j] * width + 1, (fresh[j] + 1) * width)
  end
  return table.concat(parts)
end

local added, row = 0, 0
for _, item in ipairs(q.groups) do
  local g, count, cap = item[1], item[2], item[3]
  local key = p .. ':prices:r:' .. g
  local head = redis.call('GETRANGE', key, 0, HEADER + cap * DIGEST - 1)
  if #head > 0 and (#head ~= HEADER + cap * DIGEST
      or tonumber(string.sub(head, 17, 32)) ~= cap) then
    relayout(key, cap)
    head = redis.call('GETRANGE', key, 0, HEADER + cap * DIGEST - 1)
  end
  local n = 0
  if #head > 0 then n = tonumber(string.sub(head, 1, 16)) or 0 end
  -- the rows whose digest the ring does not hold (only matches at slot boundaries count)
  local fresh, seen = {}, {}
  for j = row, row + count - 1 do
    local digest = sub(digests, j * DIGEST + 1, (j + 1) * DIGEST)
    if not seen[digest] then
      seen[digest] = true
      local at, held = HEADER + 1, false
      while true do
        local found = find(head, digest, at, true)
        if not found then break end
        if (found - HEADER - 1) % DIGEST == 0 then
          held = true
          break
        end
        at = found + 1
      end
      if not held then fresh[#fresh + 1] = j end
    end
  end
  local k = #fresh
  if k > 0 then
    local first = 1
    if k > cap then first = k - cap + 1 end -- only the last cap of them survive anyway
    redis.call('SETRANGE', key, 0, header(n + k, cap))
    local slot, j = (n + first - 1) % cap, first
    while j <= k do
      local run = math.min(k - j + 1, cap - slot)
      local last = j + run - 1
      redis.call('SETRANGE', key, HEADER + slot * DIGEST, rows_of(fresh, j, last, digests, DIGEST))
      redis.call('SETRANGE', key, HEADER + cap * DIGEST + slot * RECORD,
        rows_of(fresh, j, last, records, RECORD))
      j = j + run
      slot = 0
    end
    redis.call('EXPIRE', key, ttl)
    added = added + k
  end
  row = row + count
end

if #q.baselines > 0 then
  local keys = {}
  for i, b in ipairs(q.baselines) do keys[i] = p .. ':prices:b:' .. b[2] .. ':' .. b[1] end
  local olds = mget(keys)
  for i, b in ipairs(q.baselines) do
    local newer = true
    local old = olds[i]
    if old then
      local v, t = string.match(old, '^(%d+)|([^|]+)|')
      if v and tonumber(t) then
        local ov, ot = tonumber(v), tonumber(t)
        newer = b[3] > ov or (b[3] == ov and b[4] > ot)
      end
    end
    if newer then redis.call('SET', keys[i], b[5], 'EX', ttl) end
  end
end
return added
