"""Helpers that run real services (Kafka, Phoenix, PostgreSQL) on 127.0.0.1 for the tests.

Each service module offers a context manager that starts the service as a child process, waits
until it answers (with a deadline), yields a small frozen dataclass (address, pid, ...) and stops
the process by pid on exit: SIGTERM (or the service's fast-shutdown signal), SIGKILL after a
deadline, always reaped. Installation is separate: see .ci/services.sh and docs/services.md.
"""

from .procs import ServiceError, ServiceNotInstalledError

__all__ = ["ServiceError", "ServiceNotInstalledError"]
