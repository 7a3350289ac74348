-- wrk's `done` hook (`wrk -s wrk_done.lua`): the figures throughput.py reads,
-- as one JSON line after wrk's own text, instead of parsing that text.
-- Only `done` is defined, so wrk keeps its fast path: no Lua per request.
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(99), errors.status,
    errors.connect, errors.read, errors.write, errors.timeout))
end
