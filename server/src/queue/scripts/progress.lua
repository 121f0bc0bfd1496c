-- Renews an active job's lease and, when a percent is given, stores and
-- publishes its progress.
-- ARGV[ARG..]: id, lease token, percent ('' to renew only), message
-- Reply: { 'ok' } or { 'lost' } when the lease is no longer this attempt's.

local id, token, percent, message = ARGV[ARG], ARGV[ARG + 1], ARGV[ARG + 2], ARGV[ARG + 3]
local r = load_run(id)
if not r or r.state ~= 'active' or r.token ~= token then return { 'lost' } end

redis.call('ZADD', K.active, NOW + LEASE, id)
changed('active')
if percent ~= '' then
  local p = cjson.encode({ progress = tonumber(percent), message = message })
  redis.call('HSET', K.progress, id, p)
  redis.call('PUBLISH', CHANNEL .. 'events',
    '{"event":"progress","job":' .. cjson.encode(id) .. ',' .. string.sub(p, 2))
end
wake_for(tick())
schedule()
return { 'ok' }
