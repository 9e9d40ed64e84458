"""The queue policy of :mod:`dlserver._slots_core`, in Lua, run atomically by Redis.

Every script runs as one ``EVALSHA`` (Redis runs a script alone, so each is a
transaction).  Every script first reaps expired leases, and every script that
can free a slot then grants: so a crashed process's slots come back at the
next command of any live process, whose heartbeats keep running.

Keys (``KEYS``, always in this order; one Redis, not Redis Cluster):

1. ``seq``: the ticket id counter (ids grow, so an id is its queue order).
2. ``queue``: sorted set of waiting ids, scored by id.
3. ``active``: set of ids holding a slot.
4. ``leases``: sorted set of every live id (waiting or active), scored by the
   time its lease ends, in milliseconds of the Redis server's clock (``TIME``:
   one clock for every machine, so no skew between them).
5. ``client``: hash id -> client id.
6. ``owner``: hash id -> the owning process's instance id.
7. ``cactive``: hash client -> active count (absent when 0).
8. ``cwaiting``: hash client -> waiting count (absent when 0).

``ARGV`` starts with global limit, per-client limit, lease length in ms, and the
wake channel prefix; a grant publishes the id on ``prefix .. owner``.  Every
process must run with the same limits: a script applies those it is given.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "HEARTBEAT", "KEY_NAMES", "POSITIONS", "RELEASE"]

KEY_NAMES = ("seq", "queue", "active", "leases", "client", "owner", "cactive", "cwaiting")

_LIB = """
local K_SEQ, K_QUEUE, K_ACTIVE, K_LEASES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_CLIENT, K_OWNER, K_CACTIVE, K_CWAITING = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local GLIMIT = tonumber(ARGV[1])
local CLIMIT = tonumber(ARGV[2])
local LEASE_MS = tonumber(ARGV[3])
local WAKE = ARGV[4]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function hdecr(key, field)
  if redis.call('HINCRBY', key, field, -1) <= 0 then
    redis.call('HDEL', key, field)
  end
end

-- Forget a ticket, waiting or active; 2 if it was active, 1 waiting, 0 unknown.
local function drop(id)
  local client = redis.call('HGET', K_CLIENT, id)
  if not client then return 0 end
  local was = 0
  if redis.call('SREM', K_ACTIVE, id) == 1 then
    hdecr(K_CACTIVE, client)
    was = 2
  elseif redis.call('ZREM', K_QUEUE, id) == 1 then
    hdecr(K_CWAITING, client)
    was = 1
  end
  redis.call('ZREM', K_LEASES, id)
  redis.call('HDEL', K_CLIENT, id)
  redis.call('HDEL', K_OWNER, id)
  return was
end

local function reap(now)
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now)
  for _, id in ipairs(expired) do drop(id) end
end

-- The earliest waiting id whose client is below its cap (and that client).
local function first_eligible()
  local start = 0
  local blocked = {}
  while true do
    local ids = redis.call('ZRANGE', K_QUEUE, start, start + 99)
    if #ids == 0 then return nil, nil end
    for _, id in ipairs(ids) do
      local client = redis.call('HGET', K_CLIENT, id)
      if not blocked[client] then
        local held = tonumber(redis.call('HGET', K_CACTIVE, client) or '0')
        if held < CLIMIT then return id, client end
        blocked[client] = true
      end
    end
    start = start + 100
  end
end

local function grant(now)
  while redis.call('SCARD', K_ACTIVE) < GLIMIT do
    local id, client = first_eligible()
    if not id then return end
    redis.call('ZREM', K_QUEUE, id)
    hdecr(K_CWAITING, client)
    redis.call('SADD', K_ACTIVE, id)
    redis.call('HINCRBY', K_CACTIVE, client, 1)
    redis.call('ZADD', K_LEASES, now + LEASE_MS, id)
    redis.call('PUBLISH', WAKE .. redis.call('HGET', K_OWNER, id), id)
  end
end

local function place(id)
  local rank = redis.call('ZRANK', K_QUEUE, id)
  if rank then return rank + 1 end
  return 0
end
"""

# ARGV[5] owner, ARGV[6] client -> {id, position (0: granted)}
ACQUIRE = (
    _LIB
    + """
local now = now_ms()
reap(now)
local id = redis.call('INCR', K_SEQ)
redis.call('ZADD', K_QUEUE, id, id)
redis.call('HSET', K_CLIENT, id, ARGV[6])
redis.call('HSET', K_OWNER, id, ARGV[5])
redis.call('HINCRBY', K_CWAITING, ARGV[6], 1)
redis.call('ZADD', K_LEASES, now + LEASE_MS, id)
grant(now)
return {id, place(id)}
"""
)

# ARGV[5..] ids to forget (released or cancelled) -> how many were known
RELEASE = (
    _LIB
    + """
local now = now_ms()
reap(now)
local known = 0
for i = 5, #ARGV do
  if drop(ARGV[i]) > 0 then known = known + 1 end
end
grant(now)
return known
"""
)

# ARGV[5..] the caller's live ids -> {states, active, waiting, cactive, cwaiting}
# where a state is a position, 0 for active, -1 for gone (lease expired).
HEARTBEAT = (
    _LIB
    + """
local now = now_ms()
reap(now)
local states = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', K_LEASES, id) then
    redis.call('ZADD', K_LEASES, 'XX', now + LEASE_MS, id)
    states[#states + 1] = place(id)
  else
    states[#states + 1] = -1
  end
end
grant(now)
for i = 5, #ARGV do
  if states[i - 4] > 0 then states[i - 4] = place(ARGV[i]) end
end
return {states, redis.call('SCARD', K_ACTIVE), redis.call('ZCARD', K_QUEUE),
        redis.call('HGETALL', K_CACTIVE), redis.call('HGETALL', K_CWAITING)}
"""
)

# ARGV[5] client -> its waiting tickets' positions, ascending
POSITIONS = (
    _LIB
    + """
local now = now_ms()
reap(now)
grant(now)
local out = {}
for i, id in ipairs(redis.call('ZRANGE', K_QUEUE, 0, -1)) do
  if redis.call('HGET', K_CLIENT, id) == ARGV[5] then out[#out + 1] = i end
end
return out
"""
)
