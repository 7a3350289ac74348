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
  hyperfine.py   exec → exit of a server that never gets a request
  load.py        the matrix's load: h2load, and bench-client's subcommands
  matrix.py      instructions per unit of work under callgrind, per row
  keepalive.py   RSS per idle keep-alive connection
  cpu.py         server CPU time per GET, natively, in alternating rounds
  nodelay.py     a small streamed response with and without TCP_NODELAY
  download.py    a flow-controlled HTTP/2 download, in alternating rounds

Standard library only; h2load, valgrind, wrk and hyperfine are found on PATH.
"""
