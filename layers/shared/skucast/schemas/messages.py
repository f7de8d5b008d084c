"""Queue message bodies. Messages carry ids, never data (claim check): the worker loads the rest."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class BatchMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    client_id: str = Field(pattern=ID_PATTERN)
    run_id: str = Field(pattern=ID_PATTERN)
    batch_id: str = Field(pattern=ID_PATTERN)


class TrainMessage(BaseModel):
    """Train one training shard of a run's global model (services/training.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    client_id: str = Field(pattern=ID_PATTERN)
    run_id: str = Field(pattern=ID_PATTERN)
    shard_id: str = Field(pattern=ID_PATTERN)


class PlanMessage(BaseModel):
    """Plan a QUEUED run: split its SKUs into batches and send the first ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    client_id: str = Field(pattern=ID_PATTERN)
    run_id: str = Field(pattern=ID_PATTERN)


class ExportMessage(BaseModel):
    """Write a finished run's export object (too big to write within an API request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    client_id: str = Field(pattern=ID_PATTERN)
    run_id: str = Field(pattern=ID_PATTERN)
    format: Literal["csv", "parquet"]
