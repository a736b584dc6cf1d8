"""Every batch script in one Lua chunk, so that a round trip is one ``EVALSHA``.

A batch read runs several scripts (the offender copy's sync, series and ledger, bucket tables,
price groups, inline tables) and a write two or three. Sent as a pipeline, each script is an
``EVALSHA`` of its own (a few microseconds of Redis time each, and ``MULTI``/``EXEC`` around a
write), a reply of its own to parse and, in redis-py's asyncio client, a pure-Python encode of
every argument. The bundle wraps each script file, unchanged, as a function of its own
``ARGV`` and runs the parts a call names, in order: ``ARGV`` is the number of parts, then per
part its name, its argument count and its arguments; the reply is the list of the parts'
replies (a part answering nil reads as ``None``). One command and one reply per round trip,
packed in C (:func:`pack`).

A bundle runs atomically, as any script does: a write stays one atomic step, and a read is now
one too (no other client's command lands between two of its parts). A part that fails stops
the bundle with an error naming the part; the parts before it have run, which is safe because
every part is idempotent (the caller sends the whole call again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

_DISPATCH = """
local out, at = {}, 2
for i = 1, tonumber(ARGV[1]) do
  local name, n = ARGV[at], tonumber(ARGV[at + 1])
  local part = parts[name]
  if not part then return redis.error_reply('bundle: no part ' .. tostring(name)) end
  local args = {}
  for j = 1, n do args[j] = ARGV[at + 1 + j] end
  local ok, reply = pcall(part, args)
  if not ok then
    local why = type(reply) == 'table' and reply.err or tostring(reply)
    return redis.error_reply(name .. ': ' .. tostring(why))
  end
  if reply == nil then reply = false end
  out[i] = reply
  at = at + 2 + n
end
return out
"""


def bundle_source(parts: Mapping[str, str]) -> str:
    """One chunk defining every part as a function of its ``ARGV`` and running the parts a
    call names (names are identifiers: the script files' stems)."""
    chunks = ["local parts = {}"]
    for name, source in parts.items():
        if not name.isidentifier():
            raise ValueError(f"bundle part {name!r} is not an identifier")
        chunks.append(f"parts['{name}'] = function(ARGV)\n{source}\nend")
    chunks.append(_DISPATCH)
    return "\n".join(chunks)


def bundle_args(calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
    """The bundle's ``ARGV`` for ``(part, arguments)`` calls."""
    flat: list[Any] = [len(calls)]
    for name, args in calls:
        flat.append(name)
        flat.append(len(args))
        flat.extend(args)
    return flat


_pack_command: Callable[[tuple[Any, ...]], Any] | None
try:  # redis[hiredis] ships it; the asyncio client itself packs in Python
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover - hiredis is a declared dependency
    _pack_command = None


def pack(command: Iterable[Any]) -> bytes | None:
    """A command in the Redis protocol, packed in C by hiredis (``None`` without it: the
    connection's own packer is used). Arguments are ``bytes``, ``str``, ``int`` or ``float``
    (floats as ``repr``, as redis-py writes them)."""
    if _pack_command is None:
        return None
    return bytes(_pack_command(tuple(command)))
