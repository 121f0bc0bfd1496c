-- Adds a job, or returns the job that already has its id.
-- ARGV[ARG..]: id, payload (JSON), "attempts|backoff_ms|max_stalls", delay (ms)
-- Reply: { 1 = added / 0 = existing job returned, state }

local id, payload, opts = ARGV[ARG], ARGV[ARG + 1], ARGV[ARG + 2]
local delay = tonumber(ARGV[ARG + 3])
local attempts = tonumber(string.match(opts, '^(%d+)'))
local moved = tick()

local r = load_run(id)
if r and (r.state == 'waiting' or r.state == 'delayed' or r.state == 'active') then
  wake_for(moved)
  schedule()
  return { 0, r.state }
end
if r then
  -- A finished job with this id is replaced by the new one.
  remove(id, r)
end

redis.call('HSET', K.data, id, payload)
redis.call('HSET', K.opts, id, int(NOW) .. '|' .. opts)
r = new_run('waiting', attempts)
if delay > 0 then
  to_delayed(id, r, NOW + delay)
else
  save_run(id, r)
  redis.call('LPUSH', K.wait, id)
  moved = moved + 1
end
redis.call('PUBLISH', CHANNEL .. 'events', string.format('{"event":"added","job":%s,"state":"%s"}',
  cjson.encode(id), r.state))
wake_for(moved)
schedule()
return { 1, r.state }
