-- Claims up to `want` jobs for the calling instance's free slots, after the
-- upkeep of deadlines. Called when the instance is woken, when its timer
-- fires, after a reconnect and at start-up.
-- ARGV[ARG]: want
-- Reply: see claim_reply.

local moved = tick()
local jobs, wait_ms = claim(tonumber(ARGV[ARG]))
wake_for(moved)
return claim_reply('ok', jobs, wait_ms, schedule())
