-- Bring a worker's replica of an inline table up to date and add its batch (state/replica.py).
-- ARGV: base, first slot, last slot, a fresh epoch token (16 bytes; used by a log this call
--   creates), the most bytes to answer per slot, then per slot: the replica's epoch ('' for
--   none), its cursor (bytes of the log it has replayed; -1: skip the slot, a call that only
--   catches up other slots), the key's ttl_s, and the records the batch adds to the slot ('' none).
-- A slot's log (<base>:log:<slot>, a string) is its epoch token, then records, appended in the
-- order Redis runs the calls: every worker replays the same bytes in the same order.
-- Returns, per slot: {epoch ('' when the log does not exist), from (where the bytes below
-- start; 16 when the replica's epoch is not the log's), the log's bytes from there on (at most
-- the limit), 1 when they reach the log's end and the records (if any) were appended after
-- them, else 0 (a replica further behind than the limit gets the first part, nothing
-- appended, and calls again)}.
local base, lo, hi, token, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4],
  tonumber(ARGV[5])
local HEAD = 16
local out, at = {}, 6
for s = lo, hi do
  local had, cursor, ttl, add = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2], ARGV[at + 3]
  at = at + 4
  local key = base .. ':log:' .. s
  if cursor < 0 then
    out[#out + 1] = {'', 0, '', 1}
  else
    local size = redis.call('STRLEN', key)
    local epoch = ''
    if size >= HEAD then epoch = redis.call('GETRANGE', key, 0, HEAD - 1) end
    local from = cursor
    if epoch ~= had or cursor < HEAD or cursor > size then from = HEAD end
    local data, done = '', 0
    local stop = size
    if size > from then
      stop = math.min(size, from + limit)
      data = redis.call('GETRANGE', key, from, stop - 1)
    end
    if stop == size then
      done = 1
      if add ~= '' then
        if size < HEAD then
          redis.call('SET', key, token)
          epoch = token
        end
        redis.call('APPEND', key, add)
        redis.call('EXPIRE', key, ttl)
      end
    end
    out[#out + 1] = {epoch, from, data, done}
  end
end
return out
