-- What the admin API and the job views read, one call per question.
-- ARGV[ARG]: operation; ARGV[ARG + 1..]: its arguments

local op = ARGV[ARG]
local ZSETS = { active = true, delayed = true, completed = true, failed = true }
-- The most ids a filtered listing looks through.
local SCAN_CAP = 10000

if op == 'counts' then
  trim('completed')
  trim('failed')
  return { redis.call('LLEN', K.wait), redis.call('ZCARD', K.active),
    redis.call('ZCARD', K.delayed), redis.call('ZCARD', K.completed),
    redis.call('ZCARD', K.failed), paused() and 1 or 0 }
elseif op == 'get' then
  local id = ARGV[ARG + 1]
  local run = redis.call('HGET', K.run, id)
  if not run then return {} end
  return { run, redis.call('HGET', K.opts, id) or false, redis.call('HGET', K.data, id) or false,
    redis.call('HGET', K.progress, id) or false, redis.call('HGET', K.hist, id) or false,
    redis.call('HGET', K.result, id) or false, redis.call('HGET', K.error, id) or false,
    redis.call('ZSCORE', K.delayed, id) or false }
elseif op == 'list' then
  -- Newest first: the waiting list's head is its newest job; the sorted sets
  -- are read from the highest score (latest due, lease or finish).
  local state, offset, limit, filter = ARGV[ARG + 1], tonumber(ARGV[ARG + 2]),
    tonumber(ARGV[ARG + 3]), ARGV[ARG + 4]
  local ids, scores, total = {}, {}, 0
  -- Keeps the page of the entries that pass the filter; returns how many did.
  local function page(all, with_scores, skip)
    local step = with_scores and 2 or 1
    local matched = 0
    for i = 1, #all, step do
      local id = all[i]
      if filter == '' or string.find(id, filter, 1, true) then
        matched = matched + 1
        if matched > skip and #ids < limit then
          ids[#ids + 1] = id
          scores[#scores + 1] = with_scores and all[i + 1] or false
        end
      end
    end
    return matched
  end
  if state == 'waiting' then
    if filter == '' then
      total = redis.call('LLEN', K.wait)
      page(redis.call('LRANGE', K.wait, offset, offset + limit - 1), false, 0)
    else
      total = page(redis.call('LRANGE', K.wait, 0, SCAN_CAP - 1), false, offset)
    end
  elseif ZSETS[state] then
    if filter == '' then
      total = redis.call('ZCARD', K[state])
      page(redis.call('ZREVRANGE', K[state], offset, offset + limit - 1, 'WITHSCORES'), true, 0)
    else
      total = page(redis.call('ZREVRANGE', K[state], 0, SCAN_CAP - 1, 'WITHSCORES'), true, offset)
    end
  else
    return redis.error_reply('unknown job state')
  end
  if #ids == 0 then return { total, {}, {}, {}, {}, {}, {} } end
  return { total, ids, redis.call('HMGET', K.run, unpack(ids)),
    redis.call('HMGET', K.opts, unpack(ids)), redis.call('HMGET', K.progress, unpack(ids)),
    redis.call('HMGET', K.error, unpack(ids)), scores }
elseif op == 'metrics' then
  return { NOW, redis.call('HGETALL', K.metrics[1]), redis.call('HGETALL', K.metrics[2]) }
elseif op == 'usage' then
  return { NOW, redis.call('HGETALL', K.daily) }
end
return redis.error_reply('unknown queue read operation')
