"""The `passenger_render` pipeline: one passenger's video rendered again, outside any card
import (the crew moved a clip, or asked for it). Its execution's params hold `passenger_id`;
it shows in the window's tree and `pipeline:list` like an import, and is retried the same way."""

from __future__ import annotations

from app.pipeline.base import NewStep
from app.pipeline.registry import PipelineDefinition

NAME = "passenger_render"

PASSENGER_RENDER = PipelineDefinition(NAME, steps=[NewStep("render_final")])
