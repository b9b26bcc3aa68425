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
// a field "c:<conv>" per conversation is the index Forget follows. Their
// reminders are indexed in a set of their own, which does not expire.
// KEYS: session, done, user, outbox, the user's reminder set, reminder
// order.
// ARGV: version (8 bytes), forget, has delivery, has session, new session
// record, has user data, user data, session ms, delivery ms, key prefix,
// conv, number of outbox entries, of cancelled ids, of reminders; then the
// outbox entries, the cancelled ids, and per reminder its id, user, at (12
// bytes), key and update.
var commit = goredis.NewScript(`
local cur = redis.call('GETRANGE', KEYS[1], 0, 7)
if #cur < 8 then cur = string.rep('\0', 8) end
if cur ~= ARGV[1] then return 0 end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local p = ARGV[10]
` + dropReminder + `
if ARGV[2] == '1' then
  for _, f in ipairs(redis.call('HKEYS', KEYS[3])) do
    if string.sub(f, 1, 2) == 'c:' then
      local c = string.sub(f, 3)
      redis.call('DEL', p .. 'session:' .. c, p .. 'outbox:' .. c)
    end
  end
  redis.call('DEL', KEYS[3])
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do drop(id) end
  redis.call('DEL', KEYS[5])
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
local nout, ncancel, nrem = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local i = 15
if nout > 0 then redis.call('RPUSH', KEYS[4], unpack(ARGV, i, i + nout - 1)) end
i = i + nout
for j = i, i + ncancel - 1 do drop(ARGV[j]) end
i = i + ncancel
for j = 1, nrem do
  local id, user, at = ARGV[i], ARGV[i+1], ARGV[i+2]
  drop(id)
  redis.call('HSET', p .. 'reminder:' .. id, 'a', at, 'u', user, 'k', ARGV[i+3], 'd', ARGV[i+4])
  redis.call('ZADD', KEYS[6], 0, at .. id)
  redis.call('SADD', p .. 'reminders:' .. user, id)
  i = i + 5
end
return 1
`)

// dropReminder is a Lua function, drop(id), that deletes a reminder and
// its entries in the order and in its user's set. It needs p, the key
// prefix, and KEYS[6], the order.
const dropReminder = `
local function drop(id)
  local k = p .. 'reminder:' .. id
  local v = redis.call('HMGET', k, 'a', 'u')
  if v[1] then redis.call('ZREM', KEYS[6], v[1] .. id) end
  if v[2] then redis.call('SREM', p .. 'reminders:' .. v[2], id) end
  redis.call('DEL', k)
end
`

// claimReminders returns the reminders due (their order member is below
// the bound) and moves them to a new time: member, user, key, update, ...
// An order member whose reminder is gone or elsewhere is dropped.
// KEYS: reminder order. ARGV: key prefix, bound (12 bytes: now + 1 ns),
// new at (12 bytes), limit (-1 for all).
var claimReminders = goredis.NewScript(`
local out = {}
local ms = redis.call('ZRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
for _, m in ipairs(ms) do
  local id = string.sub(m, 13)
  local k = ARGV[1] .. 'reminder:' .. id
  redis.call('ZREM', KEYS[1], m)
  local v = redis.call('HMGET', k, 'a', 'u', 'k', 'd')
  if v[1] == string.sub(m, 1, 12) then
    redis.call('HSET', k, 'a', ARGV[3])
    redis.call('ZADD', KEYS[1], 0, ARGV[3] .. id)
    out[#out+1] = m
    out[#out+1] = v[2] or ''
    out[#out+1] = v[3] or ''
    out[#out+1] = v[4] or ''
  end
end
return out
`)

// deleteReminder deletes a reminder if its key still matches → 1, else 0.
// KEYS: reminder, reminder order. ARGV: key prefix, id, key.
var deleteReminder = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'a', 'u', 'k')
if v[3] ~= ARGV[3] then return 0 end
if v[1] then redis.call('ZREM', KEYS[2], v[1] .. ARGV[2]) end
if v[2] then redis.call('SREM', ARGV[1] .. 'reminders:' .. v[2], ARGV[2]) end
redis.call('DEL', KEYS[1])
return 1
`)

// markSentLua removes the first outbox entry of a seq (8 big-endian
// bytes). Replies are sent in order, so it is nearly always the head.
const markSentLua = `
local function mark(box, seq)
  local head = redis.call('LINDEX', box, 0)
  if not head then return end
  if string.sub(head, 1, 8) == seq then
    redis.call('LPOP', box)
    return
  end
  for _, v in ipairs(redis.call('LRANGE', box, 1, -1)) do
    if string.sub(v, 1, 8) == seq then
      redis.call('LREM', box, 1, v)
      return
    end
  end
end
`

// markSent removes sent replies from the outbox.
// KEYS: outbox. ARGV: seqs.
var markSent = goredis.NewScript(markSentLua + `
for i = 1, #ARGV do mark(KEYS[1], ARGV[i]) end
return 1
`)

// finish removes the sent replies from the outbox and the inbox entry, and
// releases the owner's lease.
// KEYS: inbox entry, inbox order, lease, outbox. ARGV: has delivery,
// delivery, owner, then the sent seqs.
var finish = goredis.NewScript(markSentLua + `
for i = 4, #ARGV do mark(KEYS[4], ARGV[i]) end
if ARGV[1] == '1' then
  local v = redis.call('GETDEL', KEYS[1])
  if v then redis.call('ZREM', KEYS[2], string.sub(v, 1, 12) .. ARGV[2]) end
end
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return 1
`)
