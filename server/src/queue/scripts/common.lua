-- The prelude of every queue script: the keys, the clock, the job records,
-- events, wake-ups, retention, metrics, the upkeep of deadlines.
--
-- KEYS: every key of the queue, in the order of keys.rs (KEY_NAMES).
-- ARGV[1]  channel prefix (q:{name}:)
-- ARGV[2]  commands the calling client sent since its last report
-- ARGV[3]  the calling instance
-- ARGV[4]  lease (ms)
-- ARGV[5..8] keep completed count, age (ms); keep failed count, age (ms)
-- ARGV[9..10] rate limit: max starts (0 = none), window (ms)
-- ARGV[11..] the script's own arguments
--
-- Redis TIME is the one clock of every instance: no deadline depends on the
-- clock of the machine that set it.

local K = {
  wait = KEYS[1], active = KEYS[2], delayed = KEYS[3],
  completed = KEYS[4], failed = KEYS[5], meta = KEYS[6], idle = KEYS[7],
  starts = KEYS[8], data = KEYS[9], opts = KEYS[10], run = KEYS[11],
  progress = KEYS[12], hist = KEYS[13], result = KEYS[14], error = KEYS[15],
  metrics = { KEYS[16], KEYS[17] }, daily = KEYS[18],
}
local CHANNEL = ARGV[1]
local INSTANCE = ARGV[3]
local LEASE = tonumber(ARGV[4])
local KEEP = {
  completed = { count = tonumber(ARGV[5]), age = tonumber(ARGV[6]) },
  failed = { count = tonumber(ARGV[7]), age = tonumber(ARGV[8]) },
}
local RATE_MAX = tonumber(ARGV[9])
local RATE_WINDOW = tonumber(ARGV[10])
local ARG = 11
local COLUMNS = { 'data', 'opts', 'run', 'progress', 'hist', 'result', 'error' }

-- Whole numbers as strings without an exponent, whatever their size.
local function int(n) return string.format('%d', n) end

local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The caller's commands join today's total; the first report of a day drops
-- the days older than a week.
do
  local delta = tonumber(ARGV[2])
  if delta and delta > 0 then
    local day = math.floor(NOW / 86400000)
    if redis.call('HINCRBY', K.daily, int(day), delta) == delta then
      for _, d in ipairs(redis.call('HKEYS', K.daily)) do
        if tonumber(d) < day - 7 then redis.call('HDEL', K.daily, d) end
      end
    end
  end
end

-- state|starts|fails|stalls|token|instance|started|finished|attempts
local RUN = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$'

local function load_run(id)
  local s = redis.call('HGET', K.run, id)
  if not s then return nil end
  local state, starts, fails, stalls, token, inst, started, finished, attempts = string.match(s, RUN)
  if not state then return nil end
  return { state = state, starts = tonumber(starts), fails = tonumber(fails),
    stalls = tonumber(stalls), token = token, instance = inst,
    started = tonumber(started), finished = tonumber(finished), attempts = tonumber(attempts) }
end

local function save_run(id, r)
  redis.call('HSET', K.run, id, table.concat({ r.state, int(r.starts), int(r.fails),
    int(r.stalls), r.token, r.instance, r.started and int(r.started) or '',
    r.finished and int(r.finished) or '', int(r.attempts) }, '|'))
end

local function new_run(state, attempts)
  return { state = state, starts = 0, fails = 0, stalls = 0, token = '', instance = '',
    attempts = attempts }
end

local function load_opts(id)
  local s = redis.call('HGET', K.opts, id) or ''
  local created, attempts, backoff, stalls = string.match(s, '^(%d*)|(%d*)|(%d*)|(%d*)$')
  return { created = tonumber(created) or 0, attempts = tonumber(attempts) or 1,
    backoff = tonumber(backoff) or 0, max_stalls = tonumber(stalls) or 0 }
end

-- Appends JSON entries to the job's timeline. An attempt's start is not
-- written when it begins: a successful attempt's start and end are read from
-- the run record, and an attempt that ends otherwise writes both here. That
-- keeps the timeline off the path of a job that succeeds.
local function note(id, entry)
  local h = redis.call('HGET', K.hist, id)
  if h then h = string.sub(h, 1, -2) .. ',' .. entry .. ']' else h = '[' .. entry .. ']' end
  redis.call('HSET', K.hist, id, h)
end

-- Ends an attempt in the timeline: its start, then what ended it.
local function note_end(id, r, entry)
  note(id, string.format('{"at":%d,"kind":"started","attempt":%d,"instance":"%s"},',
    r.started or NOW, r.starts, r.instance) .. cjson.encode(entry))
end

local function emit(event)
  redis.call('PUBLISH', CHANNEL .. 'events', cjson.encode(event))
end

local function paused()
  return redis.call('HEXISTS', K.meta, 'paused') == 1
end

-- Wakes up to n idle instances. PUBLISH answers how many listened: none
-- means the instance is gone, so the next one is tried.
local function wake(n)
  local woken = 0
  while woken < n do
    local popped = redis.call('ZPOPMIN', K.idle)
    if not popped[1] then break end
    if redis.call('PUBLISH', CHANNEL .. 'wake:' .. popped[1], 'w') > 0 then woken = woken + 1 end
  end
  return woken
end

-- Deletes every record of the given ids (at most a few hundred at a time).
local function forget(ids)
  if #ids == 0 then return end
  for _, c in ipairs(COLUMNS) do redis.call('HDEL', K[c], unpack(ids)) end
end

local function drop_finished(state, ids)
  for i = 1, #ids, 200 do
    local batch = { unpack(ids, i, math.min(i + 199, #ids)) }
    redis.call('ZREM', K[state], unpack(batch))
    forget(batch)
  end
end

-- Keeps the completed or failed set within its count and age. Trimming by
-- count waits for a small excess (1/64 of the bound, at most 16) so the
-- deletions go in batches.
local function trim(state)
  local key, keep = K[state], KEEP[state]
  local drop = {}
  local excess = redis.call('ZCARD', key) - keep.count
  local slack = math.max(1, math.min(16, math.floor(keep.count / 64)))
  if excess >= slack then drop = redis.call('ZRANGE', key, 0, math.min(excess, 1000) - 1) end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) < NOW - keep.age then
    -- Both lists are the oldest entries, so the longer holds the shorter.
    local old = redis.call('ZRANGEBYSCORE', key, '-inf', NOW - keep.age, 'LIMIT', 0, 1000)
    if #old > #drop then drop = old end
  end
  drop_finished(state, drop)
  return #drop
end

-- Per-minute counters in two hashes, one for even and one for odd hours,
-- with the minute (since the epoch) in each field name. The first count of a
-- minute checks the hash's hour and empties a hash left from an older hour,
-- so at most two hours are kept.
local function bump(field, by)
  local minute = math.floor(NOW / 60000)
  local hour = math.floor(minute / 60)
  local key = K.metrics[hour % 2 + 1]
  local name = int(minute) .. ':' .. field
  local n = redis.call('HINCRBY', key, name, by)
  if n == by and redis.call('HGET', key, 'hour') ~= int(hour) then
    redis.call('DEL', key)
    redis.call('HSET', key, 'hour', int(hour))
    redis.call('HINCRBY', key, name, by)
  end
  return key, int(minute)
end

-- Counts a completion (with its processing time), a failure (f) or a retry
-- (r) in its minute.
local function count_metric(field, ms)
  local key, minute = bump(field, 1)
  if ms then
    redis.call('HINCRBY', key, minute .. ':ms', ms)
    local bucket = 0
    if ms > 0 then bucket = math.floor(math.log(ms) * 8) + 1 end
    redis.call('HINCRBY', key, minute .. ':h' .. bucket, 1)
  end
end

-- The earliest score of the delayed and active sets as last read (-1 for an
-- empty set), so the upkeep reads a set again only after this call changed
-- it.
local known = {}

local function first_score(set)
  local v = known[set]
  if v == nil then
    local first = redis.call('ZRANGE', K[set], 0, 0, 'WITHSCORES')
    v = first[2] and tonumber(first[2]) or -1
    known[set] = v
  end
  if v < 0 then return nil end
  return v
end

local function changed(set)
  known[set] = nil
end

-- A lease added at `score` moves the earliest only if it is earlier.
local function lease_added(score)
  local v = known.active
  if v ~= nil and (v < 0 or score < v) then known.active = score end
end

local function to_waiting(id, r, front)
  r.state = 'waiting'
  r.token = ''
  save_run(id, r)
  if front then redis.call('RPUSH', K.wait, id) else redis.call('LPUSH', K.wait, id) end
end

-- Puts a job in the delayed set, due at `at`.
local function to_delayed(id, r, at)
  r.state = 'delayed'
  r.token = ''
  save_run(id, r)
  redis.call('ZADD', K.delayed, at, id)
  changed('delayed')
end

-- Deletes a job that is not active, with every record of it.
local function remove(id, r)
  if r.state == 'waiting' then
    redis.call('LREM', K.wait, 0, id)
  else
    redis.call('ZREM', K[r.state], id)
    changed(r.state)
  end
  forget({ id })
  emit({ event = 'removed', job = id, from = r.state })
end

local function settle(id, r, state)
  r.state = state
  r.token = ''
  r.finished = NOW
  save_run(id, r)
  redis.call('ZADD', K[state], NOW, id)
  trim(state)
end

local function fail(id, r, err)
  redis.call('HSET', K.error, id, err)
  settle(id, r, 'failed')
  count_metric('f')
  emit({ event = 'failed', job = id, attempts = r.starts, error = err })
end

-- The ids of `set` (delayed or active) whose score is due, at most 100,
-- already removed from it.
local function take_due(set)
  local first = first_score(set)
  if not first or first > NOW then return {} end
  local ids = redis.call('ZRANGEBYSCORE', K[set], '-inf', NOW, 'LIMIT', 0, 100)
  if #ids > 0 then redis.call('ZREM', K[set], unpack(ids)) end
  changed(set)
  return ids
end

-- Moves due delayed jobs to waiting and expired leases back to waiting (or to
-- failed after too many stalls). Returns how many jobs became waiting.
local function tick()
  local moved = 0
  for _, id in ipairs(take_due('delayed')) do
    local r = load_run(id)
    if r then
      to_waiting(id, r, true)
      emit({ event = 'waiting', job = id, from = 'delayed' })
      moved = moved + 1
    end
  end
  for _, id in ipairs(take_due('active')) do
    local r = load_run(id)
    if r then
      r.stalls = r.stalls + 1
      note_end(id, r, { at = NOW, kind = 'stalled', attempt = r.starts, instance = r.instance })
      if r.stalls > load_opts(id).max_stalls then
        fail(id, r, 'stalled too many times')
      else
        to_waiting(id, r, true)
        emit({ event = 'stalled', job = id, attempt = r.starts })
        moved = moved + 1
      end
    end
  end
  return moved
end

-- Wakes idle instances for jobs that became waiting in this script and were
-- not claimed by it.
local function wake_for(moved)
  if moved > 0 and not paused() then
    local left = redis.call('LLEN', K.wait)
    if left > 0 then wake(math.min(moved, left)) end
  end
end

-- Announces the earliest deadline (a delayed job due, a lease expiring) to
-- every worker when it moved earlier, when the one announced is near or past,
-- or when none is left; workers keep one timer from it. Returns the delay
-- until that deadline (ms), or false when there is none.
local function schedule()
  local due = first_score('delayed')
  local expiry = first_score('active')
  if expiry and (not due or expiry < due) then due = expiry end
  local told = tonumber(redis.call('HGET', K.meta, 'due'))
  if due then
    if due ~= told and (not told or due < told or told - NOW <= LEASE * 5 / 8) then
      redis.call('HSET', K.meta, 'due', int(due))
      redis.call('PUBLISH', CHANNEL .. 'sched', int(due) .. ' ' .. int(NOW))
    end
    return due - NOW
  end
  if told then
    redis.call('HDEL', K.meta, 'due')
    redis.call('PUBLISH', CHANNEL .. 'sched', '- ' .. int(NOW))
  end
  return false
end

-- Starts up to `want` waiting jobs on the calling instance. Returns the jobs
-- and, when the rate limit held some back, how long until it allows more
-- (else false). Registers the instance as idle when it has free slots and found
-- nothing to run, so the next enqueue wakes it.
local function claim(want)
  local jobs, wait_ms = {}, false
  if want <= 0 then return jobs, wait_ms end
  if paused() then
    redis.call('ZADD', K.idle, NOW, INSTANCE)
    return jobs, wait_ms
  end
  local allowed = want
  if RATE_MAX > 0 then
    redis.call('ZREMRANGEBYSCORE', K.starts, '-inf', NOW - RATE_WINDOW)
    allowed = math.min(want, RATE_MAX - redis.call('ZCARD', K.starts))
  end
  local empty = false
  while #jobs < allowed do
    local id = redis.call('RPOP', K.wait)
    if not id then
      empty = true
      break
    end
    local r = load_run(id)
    if r and r.state == 'waiting' then
      r.state = 'active'
      r.starts = r.starts + 1
      -- Unique per attempt: a job's attempts differ in number, and a job
      -- removed and enqueued again starts in a later millisecond.
      r.token = int(NOW) .. '.' .. int(r.starts)
      r.instance = INSTANCE
      r.started = NOW
      save_run(id, r)
      redis.call('ZADD', K.active, NOW + LEASE, id)
      lease_added(NOW + LEASE)
      if RATE_MAX > 0 then redis.call('ZADD', K.starts, NOW, r.token .. ':' .. id) end
      redis.call('PUBLISH', CHANNEL .. 'events', string.format(
        '{"event":"active","job":%s,"attempt":%d,"instance":"%s"}',
        cjson.encode(id), r.starts, INSTANCE))
      jobs[#jobs + 1] = { id, redis.call('HGET', K.data, id) or 'null', r.token, r.starts,
        r.attempts }
    end
  end
  if #jobs == want then
    redis.call('ZREM', K.idle, INSTANCE)
  elseif empty or redis.call('LLEN', K.wait) == 0 then
    redis.call('ZADD', K.idle, NOW, INSTANCE)
  else
    local oldest = redis.call('ZRANGE', K.starts, 0, 0, 'WITHSCORES')
    wait_ms = math.max(1, (tonumber(oldest[2]) or NOW) + RATE_WINDOW - NOW)
    redis.call('ZREM', K.idle, INSTANCE)
  end
  return jobs, wait_ms
end

-- The reply of every script that claims: status, rate-limit wait, delay until
-- the earliest deadline, Redis's clock when it was read (so a worker can tell
-- it from a newer deadline announced meanwhile), then one entry per claimed
-- job.
local function claim_reply(status, jobs, wait_ms, due)
  local reply = { status, wait_ms, due, NOW }
  for _, j in ipairs(jobs) do reply[#reply + 1] = j end
  return reply
end
