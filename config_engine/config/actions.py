"""The `actions` section: named lists of steps run against an account.

``post_install``, ``validation`` and ``refresh_token`` run in the account
lifecycle, and any other name is a custom action. An action is
``{"steps": [...]}`` or the list of steps itself. Step types and their
``config``:

- ``request``: a request config, as in `resources`.
- ``transform``: a JSONata expression, as a string or as ``{"expression"}``.
- ``update_context``: a JSONata ``expression`` whose object is merged into
  the context.
- ``set_context``: an object of templates merged into the context.
- ``get_context``: an optional ``path`` into the context.

Every step may have a ``name`` and a JSONata ``run_if`` condition.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import ValidationInfo, model_validator

from config_engine.config.base import (
    ConfigModel,
    Jsonata,
    MissingKeyModel,
    discriminator,
    is_partial,
    kind_discriminator,
    missing_setting,
    require,
    tag,
)
from config_engine.config.resources import RequestConfig

STEP_TYPES: Final = (
    "request",
    "transform",
    "update_context",
    "set_context",
    "get_context",
)
LIFECYCLE_ACTIONS: Final = ("post_install", "validation", "refresh_token")


class ExpressionConfig(ConfigModel):
    """A step config with a JSONata `expression`."""

    expression: Jsonata | None = None


class ContextPathConfig(ConfigModel):
    """A `get_context` config: the context path to output."""

    path: str | None = None


class StepBase(ConfigModel):
    """The keys every step accepts."""

    name: str | None = None
    run_if: Jsonata | None = None


class RequestStep(StepBase):
    """An upstream call with the integration's settings."""

    type: Literal["request"] = "request"
    config: RequestConfig | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> RequestStep:
        require(self, info, "config", "a request step needs a config with a path")
        return self


class TransformExpression(ExpressionConfig):
    """A transform written as an object with an `expression`."""

    @model_validator(mode="after")
    def _check_expression(self, info: ValidationInfo) -> TransformExpression:
        require(self, info, "expression", "a transform step needs an expression")
        return self


TransformConfig: TypeAlias = Annotated[
    Annotated[Jsonata, tag("kind", "text")]
    | Annotated[TransformExpression, tag("kind", "object")],
    kind_discriminator({str: "text", dict: "object"}),
]


class TransformStep(StepBase):
    """A JSONata transform of the previous outputs."""

    type: Literal["transform"] = "transform"
    config: TransformConfig | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> TransformStep:
        require(self, info, "config", "a transform step needs a JSONata expression")
        return self


class UpdateContextExpression(ExpressionConfig):
    """An update_context config, whose `expression` is required."""

    @model_validator(mode="after")
    def _check_expression(self, info: ValidationInfo) -> UpdateContextExpression:
        require(
            self,
            info,
            "expression",
            "an update_context step needs an expression that returns an object",
        )
        return self


class UpdateContextStep(StepBase):
    """A merge of an expression's object into the context."""

    type: Literal["update_context"] = "update_context"
    config: UpdateContextExpression | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> UpdateContextStep:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config.expression",
                "an update_context step needs an expression that returns an object",
            )
        return self


class SetContextStep(StepBase):
    """A merge of fixed values into the context."""

    type: Literal["set_context"] = "set_context"
    config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> SetContextStep:
        require(self, info, "config", "a set_context step needs an object of values")
        return self


class GetContextStep(StepBase):
    """An output of the context, or of one path in it."""

    type: Literal["get_context"] = "get_context"
    config: ContextPathConfig | None = None


class MissingStepType(MissingKeyModel):
    """An object without its ``type``, valid only in an override."""

    missing_key = "type"
    choices = STEP_TYPES


Step: TypeAlias = Annotated[
    Annotated[RequestStep, tag("type", "request")]
    | Annotated[TransformStep, tag("type", "transform")]
    | Annotated[UpdateContextStep, tag("type", "update_context")]
    | Annotated[SetContextStep, tag("type", "set_context")]
    | Annotated[GetContextStep, tag("type", "get_context")]
    | Annotated[MissingStepType, tag("type", "")],
    discriminator("type"),
]


class Action(ConfigModel):
    """An action written as an object with its `steps`."""

    steps: list[Step] | None = None

    @model_validator(mode="after")
    def _check_steps(self, info: ValidationInfo) -> Action:
        require(self, info, "steps", "an action needs a list of steps")
        return self


ActionDefinition: TypeAlias = Annotated[
    Annotated[Action, tag("kind", "object")]
    | Annotated[list[Step], tag("kind", "list")],
    kind_discriminator({dict: "object", list: "list"}),
]
