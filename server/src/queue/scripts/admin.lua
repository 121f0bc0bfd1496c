-- The queue's admin operations and the worker's own housekeeping.
-- ARGV[ARG]: operation; ARGV[ARG + 1..]: its arguments
-- Reply: { 'ok', count } or { 'missing' } or { 'state', current state }

local op = ARGV[ARG]
local reply

-- A job by id, checked against the state the operation needs.
local function job_in(id, wanted)
  local r = load_run(id)
  if not r then return nil, { 'missing' } end
  if wanted and r.state ~= wanted then return nil, { 'state', r.state } end
  return r
end

local function retry(id, r)
  redis.call('ZREM', K.failed, id)
  redis.call('HDEL', K.error, id)
  r.fails, r.stalls, r.finished = 0, 0, nil
  note(id, cjson.encode({ at = NOW, kind = 'retried' }))
  to_waiting(id, r, false)
  emit({ event = 'waiting', job = id, from = 'failed' })
end

if op == 'pause' then
  redis.call('HSET', K.meta, 'paused', 1)
  emit({ event = 'paused' })
  reply = { 'ok', 1 }
elseif op == 'resume' then
  redis.call('HDEL', K.meta, 'paused')
  emit({ event = 'resumed' })
  wake(math.min(redis.call('LLEN', K.wait), redis.call('ZCARD', K.idle)))
  reply = { 'ok', 1 }
elseif op == 'retry' then
  local id = ARGV[ARG + 1]
  local r, err = job_in(id, 'failed')
  if not r then return err end
  retry(id, r)
  wake_for(1)
  reply = { 'ok', 1 }
elseif op == 'retry_all' then
  local ids = redis.call('ZRANGE', K.failed, 0, -1)
  local n = 0
  for _, id in ipairs(ids) do
    local r = load_run(id)
    if r then
      retry(id, r)
      n = n + 1
    else
      redis.call('ZREM', K.failed, id)
    end
  end
  wake_for(n)
  reply = { 'ok', n }
elseif op == 'remove' then
  local id = ARGV[ARG + 1]
  local r, err = job_in(id)
  if not r then return err end
  if r.state == 'active' then return { 'state', r.state } end
  remove(id, r)
  reply = { 'ok', 1 }
elseif op == 'promote' then
  local id = ARGV[ARG + 1]
  local r, err = job_in(id, 'delayed')
  if not r then return err end
  redis.call('ZREM', K.delayed, id)
  changed('delayed')
  note(id, cjson.encode({ at = NOW, kind = 'promoted' }))
  to_waiting(id, r, true)
  emit({ event = 'waiting', job = id, from = 'delayed' })
  wake_for(1)
  reply = { 'ok', 1 }
elseif op == 'clean' then
  local state, age = ARGV[ARG + 1], tonumber(ARGV[ARG + 2])
  if state ~= 'completed' and state ~= 'failed' then return { 'state', state } end
  local ids = redis.call('ZRANGEBYSCORE', K[state], '-inf', NOW - age)
  drop_finished(state, ids)
  if #ids > 0 then emit({ event = 'cleaned', state = state, count = #ids }) end
  reply = { 'ok', #ids }
elseif op == 'resign' then
  -- A worker stopping: no more wake-ups for it, and one it may have taken
  -- without claiming goes to another instance.
  redis.call('ZREM', K.idle, INSTANCE)
  wake_for(1)
  reply = { 'ok', 1 }
elseif op == 'flush' then
  -- Only reports the caller's command count, which the prelude has done.
  return { 'ok', 0 }
else
  return redis.error_reply('unknown queue admin operation')
end

wake_for(tick())
schedule()
return reply
