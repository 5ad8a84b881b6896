//! Admin API: releases, devices (revoke, decommission, tags: the device service's
//! [`crate::service::devices`], audited there), tokens, audit log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ota_protocol::admin::{
    AuditView, CreatedToken, DecommissionQuery, DeviceClassAssignment, DeviceDetail, DeviceExport, DeviceQuery,
    DeviceState as WireDeviceState, DeviceTags, DeviceView, EventView, NewToken, PatchView, ReleaseView,
    Role as WireRole, TokenView,
};
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::AdminAuth;
use super::error::{ApiError, JsonBody};
use super::{outcome, AppState};
use crate::domain::auth::{new_token, token_expiry, Role, TokenRecord, MAX_TOKEN_LIFETIME_S};
use crate::domain::{Device, Release};
use crate::store::{AuditRecord, DeviceEvent};

impl From<&Release> for ReleaseView {
    fn from(r: &Release) -> Self {
        Self {
            id: r.id,
            class: r.facts.class_name.clone(),
            class_id: r.facts.class_id.clone(),
            sequence: r.facts.sequence,
            version: r.facts.version.clone(),
            envelope_sha256: r.facts.envelope_digest.hex(),
            image_sha256: r.facts.image_digest.hex(),
            image_size: r.facts.image_size,
            patches: r
                .facts
                .patches
                .iter()
                .map(|p| PatchView {
                    format: p.format,
                    base_sha256: p.base_digest.hex(),
                    base_size: p.base_size,
                    sha256: p.digest.hex(),
                    size: p.size,
                })
                .collect(),
            created_ms: r.created_ms,
            uploaded_by: r.uploaded_by.clone(),
        }
    }
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.clone(),
            class: d.class.clone(),
            state: WireDeviceState::from(d.state.as_str()),
            registered_ms: d.registered_ms,
            last_seen_ms: d.last_seen_ms,
            running_sha256: d.running_digest.map(|x| x.hex()),
            running_version: d.running_version.clone(),
            running_sequence: d.running_sequence,
            last_status: d.last_status.clone(),
            tags: d.tags.clone(),
            pending_command: d.pending_command.clone(),
        }
    }
}

impl From<DeviceEvent> for EventView {
    fn from(e: DeviceEvent) -> Self {
        Self {
            at_ms: e.at_ms,
            status: e.status,
            release_id: e.release_id,
            reason: e.reason,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/releases", tag = "admin",
    responses((status = 200, body = [ReleaseView]), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_releases(
    State(state): State<AppState>,
    admin: AdminAuth,
) -> Result<Json<Vec<ReleaseView>>, ApiError> {
    admin.require(Role::Viewer)?;
    let releases = state.store.list_releases().await?;
    Ok(Json(releases.iter().map(ReleaseView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/admin/releases/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ReleaseView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_release(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<ReleaseView>, ApiError> {
    admin.require(Role::Viewer)?;
    let not_found = || ApiError::not_found(ErrorCode::RELEASE_NOT_FOUND, "no such release");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let release = state.store.release(id).await?.ok_or_else(not_found)?;
    Ok(Json(ReleaseView::from(&release)))
}

#[utoipa::path(get, path = "/api/v1/admin/devices", tag = "admin",
    params(("after" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = [DeviceView])), security(("bearer" = [])))]
pub async fn list_devices(
    State(state): State<AppState>,
    admin: AdminAuth,
    page: Result<Query<DeviceQuery>, QueryRejection>,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    admin.require(Role::Viewer)?;
    let Query(page) = page.map_err(|e| ApiError::bad_request(ErrorCode::INVALID_QUERY, e.body_text()))?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let devices = state.devices().list(limit, page.after.as_deref()).await?;
    Ok(Json(devices.iter().map(DeviceView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/admin/devices/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = DeviceDetail), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_device(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    admin.require(Role::Viewer)?;
    let (device, events) = state.devices().show(&id).await?;
    Ok(Json(DeviceDetail {
        device: DeviceView::from(&device),
        events: events.into_iter().map(EventView::from).collect(),
    }))
}

/// Replace a device's tags (release-manager).
#[utoipa::path(put, path = "/api/v1/admin/devices/{id}/tags", tag = "admin", params(("id" = String, Path)),
    request_body = DeviceTags,
    responses((status = 200, body = DeviceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_tags(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DeviceTags>,
) -> Result<Json<DeviceView>, ApiError> {
    let device = state.devices().set_tags(&admin.caller(), &id, body.tags).await?;
    Ok(Json(DeviceView::from(&device)))
}

/// Assign a device's class (release-manager), registering the device if it is new. With the
/// certificate's subject OU, the only source of a device's class: a device never names its own.
#[utoipa::path(put, path = "/api/v1/admin/devices/{id}/class", tag = "admin", params(("id" = String, Path)),
    request_body = DeviceClassAssignment,
    responses((status = 200, body = DeviceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_class(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DeviceClassAssignment>,
) -> Result<Json<DeviceView>, ApiError> {
    let device = state.devices().set_class(&admin.caller(), &id, &body.class).await?;
    Ok(Json(DeviceView::from(&device)))
}

/// Revoke: the device is refused from its next request on, open connections included.
#[utoipa::path(post, path = "/api/v1/admin/devices/{id}/revoke", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let device = state.devices().revoke(&admin.caller(), &id).await?;
    Ok(Json(DeviceView::from(&device)))
}

/// Decommission: by default `factory_reset` is sent at the device's next check-in, and then it
/// is decommissioned and its certificates revoked; `?immediate=true` does that at once. Its
/// history is kept.
#[utoipa::path(post, path = "/api/v1/admin/devices/{id}/decommission", tag = "admin",
    params(("id" = String, Path), ("immediate" = Option<bool>, Query)),
    responses((status = 200, body = DeviceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn decommission(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
    query: Result<Query<DecommissionQuery>, QueryRejection>,
) -> Result<Json<DeviceView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(ErrorCode::INVALID_QUERY, e.body_text()))?;
    let immediate = query.immediate.unwrap_or(false);
    let device = state.devices().decommission(&admin.caller(), &id, immediate).await?;
    Ok(Json(DeviceView::from(&device)))
}

/// Everything the server holds of a device as one JSON document (admin); audited.
#[utoipa::path(get, path = "/api/v1/admin/devices/{id}/export", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = DeviceExport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<DeviceExport>, ApiError> {
    let e = state.devices().export(&admin.caller(), &id).await?;
    Ok(Json(DeviceExport {
        exported_ms: e.exported_ms,
        device: DeviceView::from(&e.device),
        events: e.events.into_iter().map(EventView::from).collect(),
        certificates: e
            .certificates
            .iter()
            .map(ota_protocol::admin::CertificateView::from)
            .collect(),
        audit: e.audit.into_iter().map(AuditView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    admin: AdminAuth,
    JsonBody(req): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let result = async {
        admin.require(Role::Admin)?;
        let role = Role::parse(req.role.as_str()).ok_or_else(|| {
            ApiError::bad_request(ErrorCode::INVALID_ROLE, "role must be admin, release-manager or viewer")
        })?;
        if req.name.is_empty() || req.name.len() > 64 {
            return Err(ApiError::bad_request(
                ErrorCode::INVALID_NAME,
                "name must be 1-64 characters",
            ));
        }
        if req
            .expires_in_seconds
            .is_some_and(|s| s == 0 || s > MAX_TOKEN_LIFETIME_S)
        {
            return Err(ApiError::bad_request(
                ErrorCode::INVALID_EXPIRY,
                format!("expires_in_seconds must be 1 to {MAX_TOKEN_LIFETIME_S} (ten years)"),
            ));
        }
        let now = state.clock.now_ms();
        let (token, hash) = new_token();
        let expires_ms = token_expiry(role, req.expires_in_seconds, now);
        let record = state
            .store
            .insert_token(&req.name, role, &hash, now, expires_ms)
            .await?;
        Ok((
            StatusCode::CREATED,
            Json(CreatedToken {
                id: record.id,
                name: record.name,
                role: WireRole::from(role.as_str()),
                token,
                expires_ms: record.expires_ms,
            }),
        ))
    }
    .await;
    state
        .audit(
            &admin.actor(),
            "token.create",
            &format!("token:{}", req.name),
            &outcome(&result),
        )
        .await;
    result
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            role: WireRole::from(t.role.as_str()),
            created_ms: t.created_ms,
            expires_ms: t.expires_ms,
            revoked_ms: t.revoked_ms,
            last_used_ms: t.last_used_ms,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin",
    responses((status = 200, body = [TokenView]), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tokens(State(state): State<AppState>, admin: AdminAuth) -> Result<Json<Vec<TokenView>>, ApiError> {
    admin.require(Role::Admin)?;
    let tokens = state.store.list_tokens().await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

/// Revokes a token: its next request is refused (`token_revoked`), on every replica, since
/// every admin request reads the token's row.
#[utoipa::path(post, path = "/api/v1/admin/tokens/{id}/revoke", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(id): Path<i64>,
) -> Result<Json<TokenView>, ApiError> {
    let result = async {
        admin.require(Role::Admin)?;
        match state.store.revoke_token(id, state.clock.now_ms()).await? {
            Some(t) => Ok(Json(TokenView::from(&t))),
            None => Err(ApiError::not_found(ErrorCode::TOKEN_NOT_FOUND, "no token with that id")),
        }
    }
    .await;
    state
        .audit(
            &admin.actor(),
            "token.revoke",
            &format!("token#{id}"),
            &outcome(&result),
        )
        .await;
    result
}

impl From<AuditRecord> for AuditView {
    fn from(a: AuditRecord) -> Self {
        Self {
            at_ms: a.at_ms,
            actor: a.actor,
            action: a.action,
            target: a.target,
            result: a.result,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    responses((status = 200, body = [AuditView]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn audit_log(State(state): State<AppState>, admin: AdminAuth) -> Result<Json<Vec<AuditView>>, ApiError> {
    admin.require(Role::Admin)?;
    let log = state.store.audit_log(500).await?;
    Ok(Json(log.into_iter().map(AuditView::from).collect()))
}
