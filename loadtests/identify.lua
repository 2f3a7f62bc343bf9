-- POST /v1/identify: every call links a new anonymous id to a customer and sets a
-- trait; one call in four names a customer created earlier in the run (an attach),
-- the rest new customers (a create).
local key = os.getenv("LOAD_SERVER_KEY")
local counter = 0
local thread_number = 0

function setup(thread)
  thread_number = thread_number + 1
  thread:set("thread_prefix", string.format("t%d-%d", thread_number, os.time()))
end

function init(args)
  prefix = thread_prefix or tostring(os.time())
end

function request()
  counter = counter + 1
  local customer
  if counter % 4 == 0 and counter > 100 then
    customer = string.format("lt-c-%s-%d", prefix, counter % 100 + 1)
  else
    customer = string.format("lt-c-%s-%d", prefix, counter)
  end
  local body = string.format(
    '{"identifiers":{"customer_id":"%s","anonymous_id":"lt-a-%s-%d"},"traits":{"points":%d,"tier":"silver"}}',
    customer, prefix, counter, counter % 5000)
  return wrk.format("POST", "/v1/identify",
    {["Content-Type"] = "application/json", ["X-Api-Key"] = key}, body)
end
