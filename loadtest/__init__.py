"""Load generation: the labelled synthetic listing generator, the stream load harness and the
locustfiles (kept out of the worker process and out of pytest collection: locust patches
sockets with gevent)."""
