"""Real local servers for the demo and the tests: always on 127.0.0.1 or a unix socket."""
