-- Add a batch's bucket entries (state/bucket_codec.py builds ARGV).
-- ARGV: nkinds, then per kind: records, handles, entry key base, bucket key base, cap, meta,
--   packed.
-- records joins each entry's "\29<store>\31<ref>\30<time>" once; handles packs their
-- 12-character handles in the same order. meta is comma-separated integers: nslots, then per
-- slot {slot, ttl_s, n}, then ngroups, then per group {part, slot, ttl_s, nvalues, n,
-- counted}; packed concatenates, in that order, each slot's n entry numbers and each group's
-- nvalues 8-byte bucket values, n entry numbers and (when counted is 1) nvalues counts, all
-- big-endian (numbers and counts 4 bytes, 0-based). A slot writes the records of its entry
-- numbers into its entry hash (<entry key base>:<slot>), keeping the newest time. A group
-- (bucket hash <bucket key base><part>:<slot>) gives its bucket values the entry numbers
-- field by field, each value taking one, or as many as its count. A bucket keeps each handle
-- once, newest last, and drops the oldest past the cap.
local H = 12
local CHUNK = 1000

local function word(s, j)
  local b1, b2, b3, b4 = string.byte(s, j * 4 - 3, j * 4)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

local function time_of(record)
  return tonumber(string.match(record, '\30([^\30]*)$'))
end

local function add(v, h, cap)
  local at = 0
  while true do -- a handle found at a handle boundary is already there
    at = string.find(v, h, at + 1, true)
    if not at then break end
    if (at - 1) % H == 0 then
      v = string.sub(v, 1, at - 1) .. string.sub(v, at + H)
      break
    end
  end
  v = v .. h
  local extra = #v / H - cap
  if extra > 0 then v = string.sub(v, extra * H + 1) end
  return v
end

local nkinds = tonumber(ARGV[1]) -- sections; a kind may come more than once
local i = 2
local written = 0
for _ = 1, nkinds do
  local blob, hblob, ebase, bbase = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local cap, packed = tonumber(ARGV[i + 4]), ARGV[i + 6]
  local meta = {} -- as text: a key is built from the part and slot as the client wrote them
  for v in string.gmatch(ARGV[i + 5], '[^,]+') do meta[#meta + 1] = v end
  i = i + 7
  local records, handles = {}, {}
  local pos = 1
  while pos <= #blob do
    local nxt = string.find(blob, '\29', pos + 1, true) or (#blob + 1)
    records[#records + 1] = string.sub(blob, pos + 1, nxt - 1)
    handles[#handles + 1] = string.sub(hblob, #handles * H + 1, (#handles + 1) * H)
    pos = nxt
  end
  local m, at = 1, 1
  local function take(bytes) -- the next `bytes` of packed
    local s = string.sub(packed, at, at + bytes - 1)
    at = at + bytes
    return s
  end
  local nslots = tonumber(meta[m])
  m = m + 1
  for _ = 1, nslots do
    local key, ttl, n = ebase .. ':' .. meta[m], tonumber(meta[m + 1]), tonumber(meta[m + 2])
    m = m + 3
    local numbers = take(4 * n)
    for c0 = 0, n - 1, CHUNK do
      local picks, fields = {}, {}
      for j = c0 + 1, math.min(n, c0 + CHUNK) do
        local e = word(numbers, j) + 1
        picks[j - c0] = e
        fields[j - c0] = handles[e]
      end
      local old = redis.call('HMGET', key, unpack(fields))
      local args = {}
      for k, e in ipairs(picks) do
        if not old[k] or time_of(old[k]) < time_of(records[e]) then
          args[#args + 1] = fields[k]
          args[#args + 1] = records[e]
        end
      end
      if #args > 0 then redis.call('HSET', key, unpack(args)) end
    end
    redis.call('EXPIRE', key, ttl)
  end
  local ngroups = tonumber(meta[m])
  m = m + 1
  for _ = 1, ngroups do
    local key = bbase .. meta[m] .. ':' .. meta[m + 1]
    local ttl, nvalues = tonumber(meta[m + 2]), tonumber(meta[m + 3])
    local nnumbers, counted = tonumber(meta[m + 4]), meta[m + 5] == '1'
    m = m + 6
    local values_packed, numbers = take(8 * nvalues), take(4 * nnumbers)
    local counts = counted and take(4 * nvalues) or ''
    local n = nvalues
    local next_number = 1
    for c0 = 0, n - 1, CHUNK do
      local c1 = math.min(n, c0 + CHUNK)
      local fields = {}
      for j = c0 + 1, c1 do fields[j - c0] = string.sub(values_packed, j * 8 - 7, j * 8) end
      local values = redis.call('HMGET', key, unpack(fields))
      local args = {}
      for k = 1, c1 - c0 do
        local v = values[k]
        local take_n = 1
        if #counts > 0 then take_n = word(counts, c0 + k) end
        for _ = 1, take_n do
          local h = handles[word(numbers, next_number) + 1]
          next_number = next_number + 1
          if v then v = add(v, h, cap) else v = h end
        end
        args[2 * k - 1] = fields[k]
        args[2 * k] = v
      end
      redis.call('HSET', key, unpack(args))
      written = written + (c1 - c0)
    end
    redis.call('EXPIRE', key, ttl)
  end
end
return written
