-- Records the outcome of one attempt, then claims the next jobs for the slot
-- it freed, in the same call.
-- ARGV[ARG..]: id, lease token, kind (completed | failed | fatal | handback),
--   result JSON or error text, retry delay (ms, -1 for the job's backoff), want
-- Reply: claim_reply with status 'ok', or 'lost' when the lease was no longer
--   this attempt's (nothing was recorded).

local id, token, kind, value = ARGV[ARG], ARGV[ARG + 1], ARGV[ARG + 2], ARGV[ARG + 3]
local retry_ms, want = tonumber(ARGV[ARG + 4]), tonumber(ARGV[ARG + 5])
local status, moved = 'lost', 0

local r = load_run(id)
if r and r.state == 'active' and r.token == token then
  status = 'ok'
  redis.call('ZREM', K.active, id)
  changed('active')
  if kind == 'completed' then
    local ms = math.max(0, NOW - (r.started or NOW))
    redis.call('HSET', K.result, id, value)
    settle(id, r, 'completed')
    count_metric('c', ms)
    redis.call('PUBLISH', CHANNEL .. 'events', string.format(
      '{"event":"completed","job":%s,"duration_ms":%d}', cjson.encode(id), ms))
  elseif kind == 'handback' then
    note_end(id, r, { at = NOW, kind = 'handed_back', attempt = r.starts, instance = INSTANCE })
    to_waiting(id, r, true)
    emit({ event = 'waiting', job = id, from = 'active' })
    moved = 1
  else
    r.fails = r.fails + 1
    note_end(id, r, { at = NOW, kind = 'failed', attempt = r.starts, error = value })
    if kind == 'fatal' or r.fails >= r.attempts then
      fail(id, r, value)
    else
      redis.call('HSET', K.error, id, value)
      count_metric('r')
      local delay = retry_ms
      if delay < 0 then delay = load_opts(id).backoff * 2 ^ (r.fails - 1) end
      -- At most 30 days, so the number stays whole in JSON.
      delay = math.floor(math.min(delay, 2592000000))
      if delay > 0 then
        to_delayed(id, r, NOW + delay)
      else
        to_waiting(id, r, false)
        moved = 1
      end
      emit({ event = 'retrying', job = id, attempt = r.starts, error = value,
        delay_ms = delay, state = r.state })
    end
  end
end

moved = moved + tick()
local jobs, wait_ms = claim(want)
wake_for(moved)
return claim_reply(status, jobs, wait_ms, schedule())
