"""Dependencies injected into routes (overridable in tests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
