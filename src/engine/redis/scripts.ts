// The Lua scripts: every read-modify-write that must be atomic runs inside Redis as one script, so
// no interleaving of nodes can reuse an offset, double-count a member or overdraw a rate limit.
// Registered with ioredis `defineCommand` (EVALSHA, falling back to EVAL after a Redis restart).
// Time is Redis's own (`TIME`), so every node agrees on it whatever its clock says.

import type { Redis } from 'ioredis';

const NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

// Entries are appended with non-decreasing times (field 't', written first), so the scan from the
// oldest stops at the first entry young enough; trimming is exact (MINID, not ~), as the size is.
const TRIM_OLDER = `
local function trim_older(stream, cutoff)
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if head == nil or tonumber(head[2][2]) >= cutoff then return end
  local start = head[1]
  while true do
    local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', 100)
    if #batch == 0 then
      redis.call('DEL', stream)
      return
    end
    for i = 1, #batch do
      if tonumber(batch[i][2][2]) >= cutoff then
        redis.call('XTRIM', stream, 'MINID', batch[i][1])
        return
      end
    end
    start = '(' .. batch[#batch][1]
  end
end
`;

// A meta hash records the run id of the Redis process that wrote it (field 'r'). One written by an
// earlier process was restored from disk after a restart, and a crash may have rolled its offsets
// back, so that they would be handed out again to different publications: unless told to trust
// it, such a stream is treated as lost and starts a new epoch.
const RESTORED = `
local function restored(meta, m_epoch, m_run, run, keep)
  if not m_epoch or m_run == run then return false end
  if keep == '1' then
    redis.call('HSET', meta, 'r', run)
    return false
  end
  return true
end
`;

/**
 * KEYS: meta, stream, idempotency key (meta again when there is none).
 * ARGV: topic, data, from JSON or '', history size (0: keep none), history TTL ms, meta TTL ms,
 * epoch for a new stream, idempotency window ms (0: none), publish command, Redis run id, keep a
 * restored stream 0|1.
 * Returns {offset, epoch, duplicate 0|1}.
 */
const PUBLISH = `${NOW}${TRIM_OLDER}${RESTORED}
local meta, stream, idem = KEYS[1], KEYS[2], KEYS[3]
local size, ttl, metaTtl, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[8])
local m = redis.call('HMGET', meta, 'e', 'r')
local epoch = m[1]
if restored(meta, m[1], m[2], ARGV[10], ARGV[11]) then
  redis.call('DEL', meta)
  epoch = false
end
if not epoch then
  epoch = ARGV[7]
  redis.call('HSET', meta, 'e', epoch, 'r', ARGV[10])
  -- Entries left without their meta belong to a lost epoch.
  redis.call('DEL', stream)
elseif window > 0 then
  local seen = redis.call('GET', idem)
  if seen then
    local sp = string.find(seen, ' ', 1, true)
    if sp and string.sub(seen, sp + 1) == epoch then
      return {tonumber(string.sub(seen, 1, sp - 1)), epoch, 1}
    end
  end
end
local offset = redis.call('HINCRBY', meta, 'o', 1)
local now = now_ms()
if size > 0 then
  if ttl > 0 then
    redis.call('HSET', meta, 't', ttl)
    trim_older(stream, now - ttl)
  end
  if ARGV[3] == '' then
    redis.call('XADD', stream, 'MAXLEN', size, offset .. '-0', 't', now, 'd', ARGV[2])
  else
    redis.call('XADD', stream, 'MAXLEN', size, offset .. '-0', 't', now, 'd', ARGV[2], 'f', ARGV[3])
  end
else
  -- No history asked for: nothing is kept, as with MAXLEN 0, but the offset still advanced.
  redis.call('DEL', stream)
end
if metaTtl > 0 then
  redis.call('PEXPIRE', meta, metaTtl)
  if size > 0 then redis.call('PEXPIRE', stream, metaTtl) end
else
  redis.call('PERSIST', meta)
  if size > 0 then redis.call('PERSIST', stream) end
end
if window > 0 then
  redis.call('SET', idem, offset .. ' ' .. epoch, 'PX', window)
end
redis.call(ARGV[9], ARGV[1], 'p' .. offset .. ' ' .. epoch .. ' ' .. now .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[2])
return {offset, epoch, 0}
`;

/**
 * KEYS: meta, stream.
 * ARGV: epoch for a new stream ('' : do not create one), meta TTL ms for a new stream, history TTL
 * ms (-1: the one last published with), since offset (-1: none), since epoch, limit (-1: all),
 * reverse 0|1, any epoch 0|1 (since is offset 0 of whatever epoch there is), Redis run id, keep
 * a restored stream 0|1.
 * Returns {top, epoch ('' : no stream), lost 0|1, first held offset, entries}.
 */
const READ = `${NOW}${TRIM_OLDER}${RESTORED}
local meta, stream = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'e', 'o', 't', 'r')
local epoch, top = m[1], tonumber(m[2]) or 0
if restored(meta, m[1], m[4], ARGV[9], ARGV[10]) then
  -- Without creating (a node looking for what it missed), a lost stream is no stream.
  if ARGV[1] == '' then return {0, '', 0, 1, {}} end
  redis.call('DEL', meta)
  epoch, top, m[3] = false, 0, false
end
if not epoch then
  if ARGV[1] == '' then return {0, '', 0, 1, {}} end
  -- Reading creates the stream, so the epoch a reader saw is the one the first publication gets.
  epoch = ARGV[1]
  redis.call('HSET', meta, 'e', epoch, 'o', 0, 'r', ARGV[9])
  redis.call('DEL', stream)
  local metaTtl = tonumber(ARGV[2])
  if metaTtl > 0 then redis.call('PEXPIRE', meta, metaTtl) end
end
local ttl = tonumber(ARGV[3])
if ttl < 0 then ttl = tonumber(m[3]) or 0 end
if ttl > 0 then trim_older(stream, now_ms() - ttl) end
local first = top + 1
local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
if head then first = tonumber(string.sub(head[1], 1, string.find(head[1], '-', 1, true) - 1)) end
local since, limit, reverse = tonumber(ARGV[4]), tonumber(ARGV[6]), ARGV[7] == '1'
if since >= 0 then
  local sameEpoch = ARGV[8] == '1' or ARGV[5] == epoch
  -- All or nothing: a forward read must find every entry after since.
  if not sameEpoch or (not reverse and (since < first - 1 or since > top)) then
    return {top, epoch, 1, first, {}}
  end
end
if limit == 0 then return {top, epoch, 0, first, {}} end
local entries
if reverse then
  local from = '+'
  if since >= 0 then
    if since <= 1 then return {top, epoch, 0, first, {}} end
    from = math.min(since - 1, top)
  end
  if limit > 0 then
    entries = redis.call('XREVRANGE', stream, from, '-', 'COUNT', limit)
  else
    entries = redis.call('XREVRANGE', stream, from, '-')
  end
else
  local from = '-'
  if since >= 0 then from = since + 1 end
  if limit > 0 then
    entries = redis.call('XRANGE', stream, from, '+', 'COUNT', limit)
  else
    entries = redis.call('XRANGE', stream, from, '+')
  end
end
return {top, epoch, 0, first, entries}
`;

// Presence values are '<joinLeave 0|1><ClientInfo JSON>'; the user is read back from the JSON.
const PRESENCE_HELPERS = `${NOW}
local function user_of(value)
  local ok, member = pcall(cjson.decode, string.sub(value, 2))
  if ok and type(member) == 'table' and type(member.user) == 'string' then return member.user end
  return ''
end
local function drop_user(users, user)
  if redis.call('HINCRBY', users, user, -1) <= 0 then redis.call('HDEL', users, user) end
end
`;

/**
 * KEYS: members, expiries, users. ARGV: client, user, value, TTL ms, topic, publish command,
 * grace ms (how long the keys outlive the last member's expiry).
 * Returns 1 when the client joined, 0 when it was refreshed.
 */
const PRESENCE_ADD = `${PRESENCE_HELPERS}
local members, expiries, users = KEYS[1], KEYS[2], KEYS[3]
local client, user, value, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local old = redis.call('HGET', members, client)
redis.call('HSET', members, client, value)
redis.call('ZADD', expiries, now_ms() + ttl, client)
if not old then
  redis.call('HINCRBY', users, user, 1)
else
  local before = user_of(old)
  if before ~= user then
    drop_user(users, before)
    redis.call('HINCRBY', users, user, 1)
  end
end
-- A channel nobody refreshes vanishes by itself, but only a grace period after its last member
-- expired: until then a node's sweep can still find those members and announce their leaves.
local keep = ttl + tonumber(ARGV[7])
for i = 1, 3 do
  if redis.call('PTTL', KEYS[i]) < keep then redis.call('PEXPIRE', KEYS[i], keep) end
end
if old then return 0 end
if string.sub(value, 1, 1) == '1' then redis.call(ARGV[6], ARGV[5], 'j' .. string.sub(value, 2)) end
return 1
`;

/**
 * KEYS: members, expiries, users. ARGV: client, announce ('': as added, '1', '0'), topic,
 * publish command. Returns 1 when the client was present.
 */
const PRESENCE_REMOVE = `${PRESENCE_HELPERS}
local members, expiries, users = KEYS[1], KEYS[2], KEYS[3]
local old = redis.call('HGET', members, ARGV[1])
if not old then return 0 end
redis.call('HDEL', members, ARGV[1])
redis.call('ZREM', expiries, ARGV[1])
drop_user(users, user_of(old))
local announce = ARGV[2]
if announce == '' then announce = string.sub(old, 1, 1) end
if announce == '1' then redis.call(ARGV[4], ARGV[3], 'l' .. string.sub(old, 2)) end
return 1
`;

/**
 * Removes members whose expiry passed (announcing leaves), then answers.
 * KEYS: members, expiries, users. ARGV: topic, publish command, most members to expire (-1: all),
 * answer: 'count' (members expired), 'list' (the values), 'stats' ({clients, users}).
 */
const PRESENCE_EXPIRE = `${PRESENCE_HELPERS}
local members, expiries, users = KEYS[1], KEYS[2], KEYS[3]
local gone = redis.call('ZRANGEBYSCORE', expiries, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[3]))
for _, client in ipairs(gone) do
  local old = redis.call('HGET', members, client)
  redis.call('ZREM', expiries, client)
  if old then
    redis.call('HDEL', members, client)
    drop_user(users, user_of(old))
    if string.sub(old, 1, 1) == '1' then redis.call(ARGV[2], ARGV[1], 'l' .. string.sub(old, 2)) end
  end
end
if ARGV[4] == 'list' then return redis.call('HVALS', members) end
if ARGV[4] == 'stats' then return {redis.call('HLEN', members), redis.call('HLEN', users)} end
return #gone
`;

// After a change: apply the member cap (dropping the lowest, as ZRANGE orders them) and announce.
// A member that did not make the cut never appears, so only its absence is reported.
const BOARD_ANNOUNCE = `
local function announce(board, member, score, max, topic, publish)
  local dropped = {}
  if max > 0 then
    local excess = redis.call('ZCARD', board) - max
    if excess > 0 then
      dropped = redis.call('ZRANGE', board, 0, excess - 1)
      redis.call('ZREMRANGEBYRANK', board, 0, excess - 1)
    end
  end
  local kept = true
  for _, m in ipairs(dropped) do
    if m == member then kept = false end
  end
  if kept then redis.call(publish, topic, 'b' .. score .. '\\n' .. member) end
  for _, m in ipairs(dropped) do
    if m ~= member then redis.call(publish, topic, 'b\\n' .. m) end
  end
end
`;

/** KEYS: board. ARGV: member, score, mode, max members (0: no cap), topic, publish command. */
const BOARD_SET = `${BOARD_ANNOUNCE}
local board, member, score, mode = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local changed
if mode == 'always' then
  changed = redis.call('ZADD', board, 'CH', score, member)
elseif mode == 'nx' then
  changed = redis.call('ZADD', board, 'NX', score, member)
else
  changed = redis.call('ZADD', board, string.upper(mode), 'CH', score, member)
end
if changed == 0 then return 0 end
announce(board, member, score, tonumber(ARGV[4]), ARGV[5], ARGV[6])
return 1
`;

/**
 * KEYS: board. ARGV: member, increment, max members, topic, publish command. Returns the new
 * score as Redis prints it, or fails with HUBBUB_INVALID_SCORE when it would not be finite.
 */
const BOARD_INCR = `${BOARD_ANNOUNCE}
local board, member = KEYS[1], ARGV[1]
local result = (tonumber(redis.call('ZSCORE', board, member)) or 0) + tonumber(ARGV[2])
if result ~= result or result == math.huge or result == -math.huge then
  return redis.error_reply('HUBBUB_INVALID_SCORE the resulting score is not a finite number')
end
local score = redis.call('ZINCRBY', board, ARGV[2], member)
announce(board, member, score, tonumber(ARGV[3]), ARGV[4], ARGV[5])
return score
`;

/** KEYS: board. ARGV: member, topic, publish command. */
const BOARD_REMOVE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call(ARGV[3], ARGV[2], 'b\\n' .. ARGV[1]) end
return removed
`;

/** KEYS: board. ARGV: member, n. Returns {rank of the first entry, flat member/score list} or {}. */
const BOARD_AROUND = `
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return {} end
local n = tonumber(ARGV[2])
local from = math.max(0, rank - n)
return {from, redis.call('ZREVRANGE', KEYS[1], from, rank + n, 'WITHSCORES')}
`;

/** KEYS: board. ARGV: offset, limit. A flat member/score list, whatever the protocol. */
const BOARD_TOP = `
return redis.call('ZREVRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1, 'WITHSCORES')
`;

/**
 * GCRA, the same arithmetic as src/ratelimit/gcra.ts, on Redis's clock. The stored TAT expires
 * when the bucket is full again, which is the same as no key.
 * KEYS: key. ARGV: interval ms, tolerance ms, cost. Returns {allowed 0|1, retry after ms, remaining}.
 */
const RATE_LIMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval, tolerance, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = now
if stored and stored > now then tat = stored end
local nxt = tat + interval * cost
local allow_at = nxt - tolerance
if allow_at > now then
  return {0, math.ceil(allow_at - now), math.max(0, math.floor((now - tat + tolerance) / interval))}
end
redis.call('SET', KEYS[1], string.format('%.17g', nxt), 'PX', math.max(1, math.ceil(nxt - now)))
return {1, 0, math.floor((now - allow_at) / interval)}
`;

/** INCRBY, and PEXPIRE only when the window starts. KEYS: key. ARGV: window ms, by. Returns {count, ms left}. */
const WINDOW = `
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
`;

/**
 * Nodes with local subscribers of a channel: KEYS[1] the counter, ARGV[1] +1 or -1. Returns the
 * count after; at 0 the key goes, so idle channels leave nothing behind. One atomic step, so of
 * nodes racing, exactly one sees 1 (occupied) and exactly one sees 0 (vacated).
 */
const OCCUPANCY = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n <= 0 then redis.call('DEL', KEYS[1]) n = 0 end
return n
`;

type Arg = string | number;
type Script = (...args: Arg[]) => Promise<unknown>;

const definitions = {
  hubbubPublish: { numberOfKeys: 3, lua: PUBLISH },
  hubbubRead: { numberOfKeys: 2, lua: READ },
  hubbubPresenceAdd: { numberOfKeys: 3, lua: PRESENCE_ADD },
  hubbubPresenceRemove: { numberOfKeys: 3, lua: PRESENCE_REMOVE },
  hubbubPresenceExpire: { numberOfKeys: 3, lua: PRESENCE_EXPIRE },
  hubbubBoardSet: { numberOfKeys: 1, lua: BOARD_SET },
  hubbubBoardIncr: { numberOfKeys: 1, lua: BOARD_INCR },
  hubbubBoardRemove: { numberOfKeys: 1, lua: BOARD_REMOVE },
  hubbubBoardAround: { numberOfKeys: 1, lua: BOARD_AROUND },
  hubbubBoardTop: { numberOfKeys: 1, lua: BOARD_TOP },
  hubbubRateLimit: { numberOfKeys: 1, lua: RATE_LIMIT },
  hubbubWindow: { numberOfKeys: 1, lua: WINDOW },
  hubbubOccupancy: { numberOfKeys: 1, lua: OCCUPANCY },
} as const;

export type ScriptedRedis = Redis & { [K in keyof typeof definitions]: Script };

export function defineScripts(redis: Redis): ScriptedRedis {
  for (const [name, definition] of Object.entries(definitions)) redis.defineCommand(name, definition);
  return redis as ScriptedRedis;
}
