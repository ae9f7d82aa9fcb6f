/**
 * The Lua scripts behind {@link RedisPollSchedule}: every read-modify-write of the shared poll
 * schedule and rate budget is one of these, so it is atomic on the Redis server.
 *
 * Keys (prefix `P`, default `jobstream:`):
 * - `P due:<lane>`: sorted set, member = job id, score = when it is next due (ms, Redis clock);
 *   while a member polls a job the score is the end of its lease.
 * - `P poll-job:<jobId>`: hash `lane`, `hooked` (0|1), `hookAt` (last webhook), `quiet` (the
 *   watchdog's quiet time, -1 for none), `failures` (the job's own), `rush` (0|1: poll again
 *   right after the poll in flight), `confirm` (0|1: a webhook asked for a poll that no member
 *   has claimed yet; a later webhook does not push it back), `claim` and `lease` (who polls it,
 *   until when).
 * - `P poll-now:<jobId>`: a pollNow for a job not scheduled yet, for its add (expires).
 * - `P poll-lane:<lane>`: hash `tokens`, `refilledAt` (token bucket), `blockedUntil`,
 *   `failures` (credential-wide, consecutive), `trouble` ('' | 'unavailable' | 'rate-limited'),
 *   `troubleSince`, `rlUntil` (end of the rate-limit block in force), `probeUntil` and
 *   `probeBy` (the one call allowed while the lane is in trouble).
 *
 * Time is always Redis's own clock (`TIME`), read inside each script, so members with skewed
 * clocks agree on every due time, lease, block and token refill. (Redis 7 replicates scripts by
 * their effects, so reading `TIME` before writing is allowed.)
 *
 * Scripts that only know a job id (`remove`, `noteWebhook`, `pollNow`) find the lane's key from
 * the job hash; this addresses keys not passed in `KEYS`, which a standalone Redis (the only kind
 * jobstream supports) allows.
 *
 * @module
 */

const common = /* lua */ `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The lane's token bucket, refilled up to now (continuously: limit per windowMs).
local function bucket(laneKey, limit, windowMs, now)
  local f = redis.call('HMGET', laneKey, 'tokens', 'refilledAt')
  local tokens = tonumber(f[1]) or limit
  local refilledAt = tonumber(f[2]) or now
  if now > refilledAt then
    tokens = math.min(limit, tokens + (now - refilledAt) * limit / windowMs)
  end
  return tokens
end

local function tokenAt(tokens, limit, windowMs, now)
  return now + math.max(1, math.ceil((1 - tokens) * windowMs / limit))
end

local function ceiling(failures, initialMs, maxMs)
  return math.min(maxMs, initialMs * 2 ^ math.min(math.max(0, failures - 1), 40))
end

local function cadence(jobKey, intervalMs, quietMs, now)
  if quietMs < 0 then return intervalMs end
  local f = redis.call('HMGET', jobKey, 'hooked', 'hookAt')
  if f[1] ~= '1' then return intervalMs end
  local quietUntil = (tonumber(f[2]) or 0) + quietMs
  if quietUntil > now then return quietUntil - now end
  return intervalMs
end

-- A call of the lane got an answer: its trouble, if any, is over.
local function recover(laneKey, now)
  local f = redis.call('HMGET', laneKey, 'failures', 'trouble', 'troubleSince')
  local failures = tonumber(f[1]) or 0
  local trouble = f[2] or ''
  if failures == 0 and trouble == '' then return {''} end
  redis.call('HSET', laneKey, 'failures', 0, 'trouble', '')
  if trouble == '' then return {''} end
  return {'lane-recovered', now, 0, trouble, tonumber(f[3]) or now, failures}
end

-- A call was rate-limited (429) or found the provider down: the whole lane slows down.
local function slow(laneKey, kind, retryAfterMs, random, initialMs, maxMs, probeMs, limit, windowMs, now)
  local f = redis.call('HMGET', laneKey, 'failures', 'blockedUntil', 'trouble', 'troubleSince', 'rlUntil')
  local failures = (tonumber(f[1]) or 0) + 1
  local blockedUntil = tonumber(f[2]) or 0
  local previous = f[3] or ''
  local troubleSince = tonumber(f[4]) or now
  local rlUntil = tonumber(f[5]) or 0
  local top = ceiling(failures, initialMs, maxMs)
  local wait
  if kind == 'rate-limited' then
    if retryAfterMs >= 0 then wait = retryAfterMs else wait = math.floor(random * top) end
    redis.call('HSET', laneKey, 'tokens', 0, 'refilledAt', now)
  else
    -- One probe for the whole cluster, on a short capped schedule: recovery is noticed quickly.
    wait = math.max(math.max(retryAfterMs, 0), math.min(probeMs, top))
  end
  blockedUntil = math.max(blockedUntil, now + wait)
  if previous == '' then troubleSince = now end
  local trouble = kind
  if previous == 'unavailable' then trouble = 'unavailable' end
  redis.call('HSET', laneKey, 'failures', failures, 'blockedUntil', blockedUntil, 'trouble', trouble, 'troubleSince', troubleSince)
  if kind == 'unavailable' and previous ~= 'unavailable' then
    return {'lane-outage', now, blockedUntil}
  end
  if kind == 'rate-limited' then
    redis.call('HSET', laneKey, 'rlUntil', blockedUntil)
    if now >= rlUntil then return {'lane-rate-limited', now, blockedUntil} end
  end
  return {''}
end

local function nextDue(dueKey)
  local top = redis.call('ZRANGE', dueKey, 0, 0, 'WITHSCORES')
  if top[2] then return tonumber(top[2]) end
  return nil
end
`;

/**
 * Schedules a job unless some member already did (its time is kept). A pollNow that came first
 * (its marker, see POLL_NOW) makes the job due at once, at the plain interval until the next
 * webhook.
 * KEYS: due, job, pollNow marker. ARGV: jobId, lane, hooked (0|1), quietMs (-1: none), delayMs
 * (-1: the job's cadence), intervalMs. Returns 1 when scheduled, 0 when it already was.
 */
export const ADD = /* lua */ `${common}
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local now = nowMs()
local hooked = tonumber(ARGV[3])
local quietMs = tonumber(ARGV[4])
local delayMs = tonumber(ARGV[5])
local hookAt = now
local confirm = 0
if redis.call('DEL', KEYS[3]) == 1 then
  hookAt = 0
  delayMs = 0
  confirm = 1
end
redis.call('HSET', KEYS[2], 'lane', ARGV[2], 'hooked', hooked, 'hookAt', hookAt, 'quiet', quietMs, 'failures', 0, 'rush', 0, 'confirm', confirm)
if delayMs < 0 then delayMs = cadence(KEYS[2], tonumber(ARGV[6]), quietMs, now) end
redis.call('ZADD', KEYS[1], 'NX', now + delayMs, ARGV[1])
return 1
`;

/** How long a pollNow for a job not scheduled (yet) is kept for its add (see ADD). */
export const POLL_NOW_MARKER_MS = 600_000;

/**
 * Stops polling a job. KEYS: job. ARGV: jobId, key prefix. Returns 1 when it was scheduled.
 */
export const REMOVE = /* lua */ `
local lane = redis.call('HGET', KEYS[1], 'lane')
if not lane then return 0 end
redis.call('ZREM', ARGV[2] .. 'due:' .. lane, ARGV[1])
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * A webhook arrived: mark the job hooked and push its next poll back to now + quiet (never
 * forward), unless it is being polled or rushed, or a poll asked for by an earlier webhook
 * (POLL_NOW) is still to be made. KEYS: job. ARGV: jobId, key prefix.
 */
export const NOTE_WEBHOOK = /* lua */ `${common}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = nowMs()
redis.call('HSET', KEYS[1], 'hooked', 1, 'hookAt', now)
local f = redis.call('HMGET', KEYS[1], 'quiet', 'lease', 'rush', 'lane', 'confirm')
local quietMs = tonumber(f[1]) or -1
if quietMs < 0 or (tonumber(f[2]) or 0) > now or f[3] == '1' or f[5] == '1' then return 0 end
redis.call('ZADD', ARGV[2] .. 'due:' .. f[4], 'XX', 'GT', now + quietMs, ARGV[1])
return 1
`;

/**
 * Poll this job as soon as the lane allows; then at the plain interval until the next webhook.
 * A job being polled is rushed instead (polled again right after). A job not scheduled (yet: the
 * member that submitted it may not have sent its add, e.g. held back by an outage) gets a marker,
 * `P poll-now:<jobId>`, that its add honours (kept POLL_NOW_MARKER_MS).
 * KEYS: job. ARGV: jobId, prefix.
 * Returns the job's lane when it was brought forward (so the caller can claim it at once), else 0.
 */
export const POLL_NOW = /* lua */ `${common}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', ARGV[2] .. 'poll-now:' .. ARGV[1], 1, 'PX', ${POLL_NOW_MARKER_MS})
  return 0
end
local now = nowMs()
redis.call('HSET', KEYS[1], 'hookAt', 0)
local f = redis.call('HMGET', KEYS[1], 'lease', 'lane')
if (tonumber(f[1]) or 0) > now then
  redis.call('HSET', KEYS[1], 'rush', 1)
  return 0
end
redis.call('HSET', KEYS[1], 'confirm', 1)
redis.call('ZADD', ARGV[2] .. 'due:' .. f[2], 'XX', 'LT', now, ARGV[1])
return f[2]
`;

/**
 * Claims up to `k` due jobs of a lane for one member: each gets a lease (its score becomes
 * now + leaseMs), and only the claimer polls it. Takes one token per job; takes nothing while the
 * lane is blocked; while the lane is in trouble, claims one job (the probe) and only when no
 * other probe is out.
 *
 * KEYS: due, lane. ARGV: k, leaseMs, limit, windowMs, claim token, job key prefix, idleMs.
 * Returns `[wake, now, jobId1, jobId2, …]`: `wake` is when to look again (Redis clock).
 */
export const CLAIM = /* lua */ `${common}
local now = nowMs()
local k = tonumber(ARGV[1])
local leaseMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local windowMs = tonumber(ARGV[4])
local token = ARGV[5]
local idleMs = tonumber(ARGV[7])
local f = redis.call('HMGET', KEYS[2], 'blockedUntil', 'failures', 'probeUntil')
local blockedUntil = tonumber(f[1]) or 0
local failures = tonumber(f[2]) or 0
local probeUntil = tonumber(f[3]) or 0
if now < blockedUntil then return {blockedUntil, now} end
if failures > 0 then
  if probeUntil > now then return {probeUntil, now} end
  k = math.min(k, 1)
end
local tokens = bucket(KEYS[2], limit, windowMs, now)
local claimed = {}
if tokens >= 1 then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, math.min(k, math.floor(tokens)))
  local untilMs = now + leaseMs
  for _, id in ipairs(ids) do
    local jobKey = ARGV[6] .. id
    if redis.call('EXISTS', jobKey) == 1 then
      redis.call('ZADD', KEYS[1], untilMs, id)
      redis.call('HSET', jobKey, 'claim', token, 'lease', untilMs, 'confirm', 0)
      claimed[#claimed + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
  tokens = tokens - #claimed
  if failures > 0 and #claimed > 0 then
    redis.call('HSET', KEYS[2], 'probeUntil', untilMs, 'probeBy', token)
  end
end
redis.call('HSET', KEYS[2], 'tokens', tokens, 'refilledAt', now)
local due = nextDue(KEYS[1])
local wake = now + idleMs
if due ~= nil then
  if due <= now and tokens < 1 then wake = tokenAt(tokens, limit, windowMs, now) else wake = math.min(wake, due) end
end
local out = {wake, now}
for _, id in ipairs(claimed) do out[#out + 1] = id end
return out
`;

/**
 * Takes one token of a lane for a call that is not a poll (a submission), unless the lane is
 * blocked. As in `PollScheduler`, such calls are not held to the one-probe rule of a lane in
 * trouble: each is reported (REPORT), and one that fails blocks the lane again.
 * KEYS: lane. ARGV: limit, windowMs. Returns `[granted (0|1), wake, now]`.
 */
export const ACQUIRE = /* lua */ `${common}
local now = nowMs()
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local blockedUntil = tonumber(redis.call('HGET', KEYS[1], 'blockedUntil')) or 0
if now < blockedUntil then return {0, blockedUntil, now} end
local tokens = bucket(KEYS[1], limit, windowMs, now)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'refilledAt', now)
  return {0, tokenAt(tokens, limit, windowMs, now), now}
end
redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'refilledAt', now)
return {1, 0, now}
`;

/**
 * What a call made after ACQUIRE came to. KEYS: lane. ARGV: kind ('ok' | 'rate-limited' |
 * 'unavailable'), retryAfterMs (-1: none), random, initialMs, maxMs, probeMs, limit, windowMs.
 * Returns the lane event, if any: `[type, at, until, cause, since, failures]` or `['']`.
 */
export const REPORT = /* lua */ `${common}
local now = nowMs()
if ARGV[1] == 'ok' then return recover(KEYS[1], now) end
return slow(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), now)
`;

/**
 * A claimed poll settled: update the lane (recovered, rate-limited, down), release the probe,
 * and, while the claim is still this member's, set the job's next due time by the outcome
 * (`ok`: its cadence, or now when rushed; terminal: removed; lane trouble: when the lane's block
 * ends; `failed`: its own backoff). A claim taken over after the lease expired is left alone.
 *
 * KEYS: due, lane, job. ARGV: jobId, claim token, kind ('ok' | 'rate-limited' | 'unavailable' |
 * 'failed'), terminal (0|1), retryAfterMs (-1: none), random, intervalMs, quietMs (-1: none),
 * initialMs, maxMs, probeMs, limit, windowMs.
 * Returns the lane event, as REPORT.
 */
export const SETTLE = /* lua */ `${common}
local now = nowMs()
local jobId = ARGV[1]
local token = ARGV[2]
local kind = ARGV[3]
local retryAfterMs = tonumber(ARGV[5])
local random = tonumber(ARGV[6])
local intervalMs = tonumber(ARGV[7])
local quietMs = tonumber(ARGV[8])
local initialMs = tonumber(ARGV[9])
local maxMs = tonumber(ARGV[10])
local event = {''}
if kind == 'ok' then
  event = recover(KEYS[2], now)
elseif kind == 'rate-limited' or kind == 'unavailable' then
  event = slow(KEYS[2], kind, retryAfterMs, random, initialMs, maxMs, tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]), now)
end
if redis.call('HGET', KEYS[2], 'probeBy') == token then
  redis.call('HSET', KEYS[2], 'probeUntil', 0, 'probeBy', '')
end
if kind == 'ok' and ARGV[4] == '1' then
  redis.call('ZREM', KEYS[1], jobId)
  redis.call('DEL', KEYS[3])
  return event
end
if redis.call('HGET', KEYS[3], 'claim') ~= token then return event end
local rush = redis.call('HGET', KEYS[3], 'rush') == '1'
redis.call('HDEL', KEYS[3], 'claim', 'lease')
redis.call('HSET', KEYS[3], 'rush', 0)
local due
if kind == 'ok' then
  redis.call('HSET', KEYS[3], 'failures', 0)
  if rush then due = now else due = now + cadence(KEYS[3], intervalMs, quietMs, now) end
elseif kind == 'failed' then
  local failures = redis.call('HINCRBY', KEYS[3], 'failures', 1)
  due = now + math.max(cadence(KEYS[3], intervalMs, quietMs, now), math.floor(random * ceiling(failures, initialMs, maxMs)))
else
  -- Behind every job that was already due, so the next probe is another job.
  due = tonumber(redis.call('HGET', KEYS[2], 'blockedUntil')) or now
end
redis.call('ZADD', KEYS[1], 'XX', due, jobId)
return event
`;

/**
 * Reads a lane's health, writing nothing. KEYS: lane, due. Returns `[now, tokens, refilledAt,
 * blockedUntil, failures, trouble, troubleSince, jobs]`, the hash fields as stored ('' when unset).
 */
export const LANE_HEALTH = /* lua */ `${common}
local now = nowMs()
local f = redis.call('HMGET', KEYS[1], 'tokens', 'refilledAt', 'blockedUntil', 'failures', 'trouble', 'troubleSince')
local out = {now}
for i = 1, 6 do out[#out + 1] = f[i] or '' end
out[#out + 1] = redis.call('ZCARD', KEYS[2])
return out
`;
