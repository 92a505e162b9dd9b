"""Errors raised while rendering a prompt with session data.

```
ValueError
 └── PromptRenderError            the prompt cannot be rendered as it stands
      ├── MissingVariableError    a required variable has no value
      └── InvalidVariableError    a variable's value is of a kind it cannot take
```

Each carries the prompt's name, and the variable's name where one is at fault, so the
message says what to fix without a debugger.
"""

from __future__ import annotations

__all__ = ["InvalidVariableError", "MissingVariableError", "PromptRenderError"]


class PromptRenderError(ValueError):
    """A prompt could not be rendered with the session data it was given.

    ``prompt_name`` names the prompt; ``variable`` the variable at fault, if any.
    """

    def __init__(self, message: str, *, prompt_name: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.prompt_name = prompt_name
        self.variable = variable


class MissingVariableError(PromptRenderError):
    """A required variable has no value in the session data.

    >>> err = MissingVariableError("query", "support-answer")
    >>> str(err)
    "prompt 'support-answer' needs a value for the required variable 'query'"
    >>> err.variable, err.prompt_name
    ('query', 'support-answer')
    """

    variable: str

    def __init__(self, variable: str, prompt_name: str) -> None:
        super().__init__(
            f"prompt {prompt_name!r} needs a value for the required variable {variable!r}",
            prompt_name=prompt_name,
            variable=variable,
        )


class InvalidVariableError(PromptRenderError):
    """A variable's value cannot be used for its kind (e.g. a number for an image).

    >>> str(InvalidVariableError("photo", "describe", "expected an image, got int"))
    "variable 'photo' of prompt 'describe': expected an image, got int"
    """

    variable: str

    def __init__(self, variable: str, prompt_name: str, problem: str) -> None:
        super().__init__(
            f"variable {variable!r} of prompt {prompt_name!r}: {problem}",
            prompt_name=prompt_name,
            variable=variable,
        )
        self.problem = problem
