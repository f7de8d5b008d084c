"""Request and response models of /api/v1/forecast attributes and hierarchies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skucast.attributes import MAX_ATTRIBUTES, MAX_HIERARCHIES, MAX_LEVELS, MAX_VALUE_LENGTH

MAX_ATTRIBUTE_RECORDS = 10_000


class _Request(BaseModel):
    # Unknown fields are refused: a tenant id can never come from a body.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeRecordsRequest(_Request):
    # Each record is checked by the attributes validator (row errors, like a file's), not here.
    records: list[Any] = Field(
        description=f"at most {MAX_ATTRIBUTE_RECORDS} objects {{sku, attributes: {{<name>: string|null}}}}; "
        f"a value is at most {MAX_VALUE_LENGTH} characters, stored as sent; null removes the attribute, "
        "an empty string changes nothing"
    )


class AttributeChange(BaseModel):
    version: int = Field(description="the tenant's attribute version this change was made at")
    at: str
    upload_id: str
    changes: dict[str, str | None] = Field(description="name -> new value (null: removed)")


class SkuAttributes(BaseModel):
    sku: str
    version: int = Field(description="the attribute version these attributes are as of")
    attributes: dict[str, str]
    history: list[AttributeChange] = Field(description="the SKU's kept changes, oldest first")
    history_from: int = Field(description="versions before this one are no longer kept for this SKU (0: all kept)")


class AttributeName(BaseModel):
    name: str
    skus: int = Field(description="SKUs holding this attribute now")


class AttributeNames(BaseModel):
    version: int = Field(description="the tenant's attribute version now (0: no attributes yet)")
    items: list[AttributeName] = Field(
        description=f"every attribute name some SKU holds, by name (at most {MAX_ATTRIBUTES})"
    )


class HierarchyRequest(_Request):
    # Checked by the service (each problem named, 422), not here, so every problem is reported.
    levels: list[Any] = Field(
        description=f"attribute names, top to bottom (1 to {MAX_LEVELS}); the SKU is always the bottom level"
    )


class Hierarchy(BaseModel):
    name: str
    levels: list[str]
    created_at: str
    updated_at: str


class HierarchyList(BaseModel):
    items: list[Hierarchy] = Field(description=f"every declared hierarchy, by name (at most {MAX_HIERARCHIES})")
