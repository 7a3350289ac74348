"""The measurements of bench/driver.py, one module each, and the helpers they
share:

  servers.py     starting, stopping and observing the server processes
  client.py      the HTTP client side: one GET, waiting for the first 200
  machine.py     what the run ran on (CPU, kernel, tool versions, load)
  throughput.py  wrk rounds in alternating order, server CPU time, memory
  wrk_done.lua   wrk's `done` hook: the figures of a wrk run as one JSON line
  cold_start.py  exec → first 200, and RSS right after it
  idle_exit.py   how late after `last response + timeout` a server exits
  fault.py       a request longer than the timeout, and a second client
  callgrind.py   user-space instructions per request under valgrind
  hyperfine.py   exec → exit of a server that never gets a request

Standard library only; wrk, hyperfine and valgrind are found on PATH.
"""
