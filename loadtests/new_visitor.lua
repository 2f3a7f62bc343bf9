-- GET /v1/content/home.hero, each request from a visitor nobody has seen (a new
-- X-Anonymous-Id): every request needs a person lookup (Redis, then the database).
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
  return wrk.format("GET", "/v1/content/home.hero?channel=web&locale=en",
    {["X-Anonymous-Id"] = string.format("nv-%s-%d", prefix, counter)})
end
