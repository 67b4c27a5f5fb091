"""Bodies of ``GET /v1/health`` (liveness) and ``GET /v1/ready`` (readiness)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.schemas.common import Schema

_VERSION = "Version of the service package, e.g. `0.1.0`."
_BUILD = "The build being run (`FXSCEN_BUILD`, e.g. the image's git sha); `dev` when unset."


class HealthRead(Schema):
    """The process is alive; which version and build it runs."""

    status: Literal["ok"] = Field(description="Always `ok`: the process answers requests.")
    version: str = Field(description=_VERSION)
    build: str = Field(description=_BUILD)


class ReadinessRead(Schema):
    """Start-up is done: the process takes traffic at full speed."""

    status: Literal["ready"] = Field(
        description="Always `ready`: the catalogue is loaded and validated and the pricing "
        "kernels are compiled, so no request pays for start-up work."
    )
    version: str = Field(description=_VERSION)
    build: str = Field(description=_BUILD)
    store: str = Field(description="The store's back end: `sqlite` or `postgresql`.")
    store_revision: str = Field(description="Its schema's migration revision, e.g. `0001`.")
