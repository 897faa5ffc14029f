"""Request dependencies: settings, the authenticated principal, and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coop.access import MIN_SHARED_TOKEN_LENGTH, LinkSigner, Principal, Role, is_coordinator_token
from coop.settings import Settings
from coop.store.access import principal_for_token
from models.db import session_scope

bearer = HTTPBearer(
    auto_error=False,
    description="部门令牌 / 审计令牌 / 具名协调人令牌（coop token issue、coop op token issue）；"
    "COOP_COORDINATOR_TOKEN 只用于签发第一个协调人令牌",
)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_signer(request: Request) -> LinkSigner:
    return request.app.state.signer  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
SignerDep = Annotated[LinkSigner, Depends(get_signer)]


def get_principal(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """A live department, auditor or named coordinator token, or the bootstrap secret; anything else is 401."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "需要令牌：Authorization: Bearer <token> (missing bearer token)",
            {"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials
    if is_coordinator_token(token, settings):
        # The shared token only bootstraps: it may issue the first named coordinator token and nothing else.
        return Principal(Role.bootstrap, "COOP_COORDINATOR_TOKEN")
    if not MIN_SHARED_TOKEN_LENGTH <= len(token) <= 200:
        # Every token coop issues is longer than the minimum; a short guess is refused before any lookup.
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "令牌无效或已撤销 (invalid or revoked token)", {"WWW-Authenticate": "Bearer"}
        )
    with session_scope(settings.database_url) as session:
        principal = principal_for_token(session, token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "令牌无效或已撤销 (invalid or revoked token)", {"WWW-Authenticate": "Bearer"}
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]

_ROLE_LABELS = {
    Role.department: "部门",
    Role.auditor: "审计",
    Role.coordinator: "具名协调人",
    Role.bootstrap: "初始协调人令牌",
}


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that lets only `roles` through; others get 403 (auditors are told they are read-only)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            wanted = "、".join(_ROLE_LABELS[r] for r in roles)
            hint = (
                "审计角色只读，不能修改数据 (auditors are read-only)"
                if principal.role == Role.auditor
                else "COOP_COORDINATOR_TOKEN 只能用于签发第一个具名协调人令牌（POST /api/v1/coordinator/tokens）"
                if principal.role == Role.bootstrap
                else "无权执行此操作"
            )
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"{hint}；需要角色：{wanted} (requires role: {', '.join(roles)})"
            )
        return principal

    return check


DepartmentDep = Annotated[Principal, Depends(require(Role.department))]
AuditorDep = Annotated[Principal, Depends(require(Role.auditor, Role.coordinator))]
CoordinatorDep = Annotated[Principal, Depends(require(Role.coordinator))]
IssuerDep = Annotated[Principal, Depends(require(Role.coordinator, Role.bootstrap))]
