-- Look up, then add to, an inline bucket table for a whole batch (state/inline_codec.py).
-- ARGV: base, cap, nparts, entries ('' when nothing is added), first slot, last slot,
--   then per slot: ttl_s, adds ('' none, '*' every row, else 16-bit big-endian row numbers),
--   then fields (4-byte bucket keys, one per row, part after part) and dups (one byte per
--   part, '1' when some rows share a bucket in that part, else '0').
-- entries frames every row's entry once, in row order: u16 length, payload, u32 time (seconds).
-- A bucket (field of <base>:<part>:<slot>) is u16 count, then its entries, newest last.
-- Each bucket asked for is read before the batch's entries join it, so the answer is the table
-- as it was; an entry added again moves to the end and keeps the newer time; past the cap the
-- oldest entry goes. Every value is read and written once, with no per-entry work beyond the
-- buckets that already hold entries.
-- Returns, per slot and part, the HMGET answer as it is: every row's bucket (nil where there
-- is none), or an empty array when the slot's hash does not exist and nothing is added to it.
-- (Framing the found buckets here cost Redis a sixth of the script; the client does it in C.)
local CHUNK = 3000 -- fields per HMGET and HSET call (Lua's C stack holds 8000 values)
local base, cap, nparts = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local blob, lo, hi = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])

local ent, fresh, idn = {}, {}, {}
local pos, nb = 1, #blob
while pos <= nb do
  local a, b = string.byte(blob, pos, pos + 1)
  local stop = pos + a * 256 + b + 6
  local e = string.sub(blob, pos, stop - 1)
  ent[#ent + 1] = e
  fresh[#fresh + 1] = '\0\1' .. e -- a new bucket holding only this entry
  pos = stop
end

local at = 7
local ttls, adds = {}, {}
for s = lo, hi do
  ttls[s] = tonumber(ARGV[at])
  local a = ARGV[at + 1]
  if a == '*' then
    adds[s] = true
  elseif a ~= '' then
    local set = {}
    for j = 1, #a, 2 do
      local x, y = string.byte(a, j, j + 1)
      set[x * 256 + y + 1] = true
    end
    adds[s] = set
  end
  at = at + 2
end

local packed, dups = ARGV[at], ARGV[at + 1]
local n = #packed / 4 / nparts
local fields, shared = {}, {}
for p = 0, nparts - 1 do
  local f, o = {}, p * n * 4
  for j = 1, n do f[j] = string.sub(packed, o + j * 4 - 3, o + j * 4) end
  fields[p] = f
  shared[p] = string.byte(dups, p + 1) == 49 -- '1'
end

local function u32(s, i)
  local a, b, c, d = string.byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- where bucket value `old` holds row r's entry (its time aside), or nil
local function find(old, r)
  local e = ent[r]
  local payload = idn[r]
  if not payload then
    payload = string.sub(e, 3, #e - 4)
    idn[r] = payload
  end
  local from = 3
  while true do -- the payload's first byte is a sketch byte: few false starts
    local at = string.find(old, payload, from, true)
    if not at then return nil end
    local a, b = string.byte(old, at - 2, at - 1)
    if at > 4 and a * 256 + b == #payload then return at - 2 end
    from = at + 1
  end
end

-- bucket value `old` with row r's entry added
local function append(old, r)
  local e = ent[r]
  local c1, c2 = string.byte(old, 1, 2)
  local count = c1 * 256 + c2
  local found = find(old, r)
  if found then -- the same entry again: drop the old copy, keep the newer time
    local stop = found + #e
    if u32(old, stop - 4) > u32(e, #e - 3) then e = string.sub(old, found, stop - 1) end
    old = string.sub(old, 1, found - 1) .. string.sub(old, stop)
    count = count - 1
  end
  local cut = 3
  while count >= cap do -- the oldest entries leave
    local a, b = string.byte(old, cut, cut + 1)
    cut = cut + a * 256 + b + 6
    count = count - 1
  end
  count = count + 1
  return string.char(math.floor(count / 256), count % 256) .. string.sub(old, cut) .. e
end

local out = {}
for s = lo, hi do
  local add = adds[s]
  for p = 0, nparts - 1 do
    local key = base .. ':' .. p .. ':' .. s
    local found = {}
    if add or redis.call('EXISTS', key) == 1 then
      local f = fields[p]
      local args, cur = {}, {}
      for c0 = 0, n - 1, CHUNK do
        local c1 = math.min(n, c0 + CHUNK)
        local vals = redis.call('HMGET', key, unpack(f, c0 + 1, c1))
        if c0 == 0 then
          found = vals
        else
          for k = 1, c1 - c0 do found[c0 + k] = vals[k] end
        end
        for k = 1, add and c1 - c0 or 0 do
          local r = c0 + k
          local old = vals[k]
          if add == true or add[r] then
            if shared[p] then -- rows of this batch share the bucket: build on each other
              local key_r = f[r]
              local v = cur[key_r]
              if v == nil then v = old end
              cur[key_r] = v and append(v, r) or fresh[r]
            else
              args[#args + 1] = f[r]
              args[#args + 1] = old and append(old, r) or fresh[r]
            end
          end
        end
      end
      for fk, v in pairs(cur) do
        args[#args + 1] = fk
        args[#args + 1] = v
      end
      if #args > 0 then
        for c0 = 1, #args, 2 * CHUNK do
          redis.call('HSET', key, unpack(args, c0, math.min(#args, c0 + 2 * CHUNK - 1)))
        end
        redis.call('EXPIRE', key, ttls[s])
      end
    end
    out[#out + 1] = found
  end
end
return out
