package redis

import goredis "github.com/redis/go-redis/v9"

// Each Store method is one of these scripts: one round trip, and every
// check-and-write atomic, because several replicas share the data. They
// keep the inner commands few: Redis, not the network, is what a busy
// store waits for.

// putInbox → 1 new, 2 pending, 3 done (bot.InboxState's values).
// KEYS: done, inbox entry, inbox order. ARGV: entry, order member.
var putInbox = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
  return 1
end
return 2
`)

// inbox lists the oldest entries: member, entry, member, entry...
// KEYS: inbox order. ARGV: entry key prefix, last index (-1 for all).
var inbox = goredis.NewScript(`
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]))) do
  local v = redis.call('GET', ARGV[1] .. string.sub(m, 13))
  if v then
    out[#out+1] = m
    out[#out+1] = v
  end
end
return out
`)

// begin takes or renews the lease and loads the conversation:
// {0} when another owner holds it, else {1, session, user, done, outbox}.
// KEYS: lease, session, user, outbox, done. ARGV: owner, lease ms (0 for
// none), has delivery.
var begin = goredis.NewScript(`
local ttl = tonumber(ARGV[2])
if ttl <= 0 or not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl) then
  local cur = redis.call('GET', KEYS[1])
  if cur and cur ~= ARGV[1] then return {0} end
  if ttl > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  elseif cur then
    redis.call('DEL', KEYS[1])
  end
end
local done = 0
if ARGV[3] == '1' then done = redis.call('EXISTS', KEYS[5]) end
return {1, redis.call('GET', KEYS[2]), redis.call('HGET', KEYS[3], 'd'), done, redis.call('LRANGE', KEYS[4], 0, -1)}
`)

// commit → 1 written, 0 conflict (nothing written). A session is its
// version (8 bytes, big-endian) then its bytes; a missing or unreadable one
// is version 0. A user is one hash, so their data and their index of
// conversations expire together, as one record: field "d" holds the data,
// a field "c:<conv>" per conversation is the index Forget follows.
// KEYS: session, done, user, outbox.
// ARGV: version (8 bytes), forget, has delivery, has session, new session
// record, has user data, user data, session ms, delivery ms, key prefix,
// conv, outbox entries...
var commit = goredis.NewScript(`
local cur = redis.call('GETRANGE', KEYS[1], 0, 7)
if #cur < 8 then cur = string.rep('\0', 8) end
if cur ~= ARGV[1] then return 0 end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[2] == '1' then
  for _, f in ipairs(redis.call('HKEYS', KEYS[3])) do
    if string.sub(f, 1, 2) == 'c:' then
      local c = string.sub(f, 3)
      redis.call('DEL', ARGV[10] .. 'session:' .. c, ARGV[10] .. 'outbox:' .. c)
    end
  end
  redis.call('DEL', KEYS[3])
end
if ARGV[3] == '1' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[9]) end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[8])
  if ARGV[6] == '1' then
    redis.call('HSET', KEYS[3], 'c:' .. ARGV[11], '', 'd', ARGV[7])
  else
    redis.call('HSET', KEYS[3], 'c:' .. ARGV[11], '')
  end
else
  redis.call('DEL', KEYS[1])
  if ARGV[6] == '1' then redis.call('HSET', KEYS[3], 'd', ARGV[7]) end
end
redis.call('PEXPIRE', KEYS[3], ARGV[8])
if #ARGV > 11 then redis.call('RPUSH', KEYS[4], unpack(ARGV, 12)) end
return 1
`)

// markSent removes the first outbox entry with the seq. Replies are sent
// in order, so it is nearly always the head.
// KEYS: outbox. ARGV: seq as 8 big-endian bytes.
var markSent = goredis.NewScript(`
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return 0 end
if string.sub(head, 1, 8) == ARGV[1] then
  redis.call('LPOP', KEYS[1])
  return 1
end
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 1, -1)) do
  if string.sub(v, 1, 8) == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, v)
    return 1
  end
end
return 0
`)

// finish removes the inbox entry and releases the owner's lease.
// KEYS: inbox entry, inbox order, lease. ARGV: has delivery, delivery,
// owner.
var finish = goredis.NewScript(`
if ARGV[1] == '1' then
  local v = redis.call('GETDEL', KEYS[1])
  if v then redis.call('ZREM', KEYS[2], string.sub(v, 1, 12) .. ARGV[2]) end
end
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return 1
`)
