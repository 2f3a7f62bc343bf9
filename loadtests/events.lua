-- POST /v1/events with batches of 50 events, every event id unique.
-- 80 % impressions, 15 % clicks, 5 % conversions with revenue; 1,000 distinct people.
local token = os.getenv("TAILOR_TOKEN")
local counter = 0
local prefix = nil
local thread_number = 0

function setup(thread)
  thread_number = thread_number + 1
  thread:set("thread_prefix", string.format("t%d-%d", thread_number, os.time()))
end

function init(args)
  prefix = thread_prefix or tostring(os.time())
end

function request()
  local parts = {}
  for i = 1, 50 do
    counter = counter + 1
    local kind = "impression"
    local extra = ""
    local roll = counter % 20
    if roll == 0 then
      kind = "conversion"
      extra = ',"revenue":{"amount":"19.90","currency":"EUR"}'
    elseif roll <= 3 then
      kind = "click"
    end
    parts[i] = string.format(
      '{"event_id":"%s-%d","type":"%s","tracking_token":"%s","anonymous_id":"load-%d"%s}',
      prefix, counter, kind, token, counter % 1000, extra)
  end
  return wrk.format("POST", "/v1/events", { ["Content-Type"] = "application/json" },
    '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("batches %d  failed %d  events sent %d\n",
    summary.requests, failed, (summary.requests - summary.errors.status) * 50))
end
