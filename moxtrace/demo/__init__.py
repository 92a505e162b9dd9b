"""``moxtrace demo``: the whole product working, in one command.

A local ``moxtrace serve`` (SQLite), a task with two prompts committed to its registry, a
support bot whose LLM calls a built-in stand-in model answers (``StandInModel``: responses
shaped like the Anthropic and OpenAI SDKs' objects), a background worker reached through
a queue or Kafka that continues each trace, and the traces drawn in the terminal and
browsable in the trace viewer (``/ui``). See docs/demo.md.

Modules: ``runner`` (the command's steps and progress), ``steps`` (the steps that talk to
the server), ``flow`` (the bot, the worker and their queues), ``scenario`` (task, prompts,
typed session data, tickets), ``model`` (the stand-in model), ``server`` (the server as a
child process), ``report`` (traces drawn as trees).
"""

from __future__ import annotations

from moxtrace.demo.model import StandInAPIError, StandInModel
from moxtrace.demo.runner import DemoFailed, DemoOptions, run_demo

__all__ = ["DemoFailed", "DemoOptions", "StandInAPIError", "StandInModel", "run_demo"]
