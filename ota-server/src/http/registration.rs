//! The registration allow and deny lists (issue 16): `GET`/`POST
//! /api/v1/admin/registration/{allow|deny}` and `DELETE .../{list}/{device_id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ota_protocol::admin::{DeviceQuery, NewRegistrationEntries, RegistrationAdded, RegistrationEntryView};
use ota_protocol::{ErrorBody, ErrorCode};

use super::auth::AdminAuth;
use super::error::{ApiError, JsonBody};
use super::AppState;
use crate::domain::auth::Role;
use crate::domain::registration::{RegistrationEntry, RegistrationList};
use crate::service::registration::RegistrationError;

impl From<RegistrationError> for ApiError {
    fn from(e: RegistrationError) -> Self {
        let message = e.to_string();
        match e {
            RegistrationError::InsufficientRole(needed) => super::auth::insufficient_role(needed),
            RegistrationError::Invalid(_) => Self::bad_request(ErrorCode::INVALID_REGISTRATION_ENTRY, message),
            RegistrationError::NotFound => Self::not_found(ErrorCode::REGISTRATION_ENTRY_NOT_FOUND, message),
            RegistrationError::Device(e) => e.into(),
            RegistrationError::Store(e) => e.into(),
        }
    }
}

fn view(e: &RegistrationEntry) -> RegistrationEntryView {
    RegistrationEntryView {
        device_id: e.device_id.clone(),
        class: e.class.clone(),
        note: e.note.clone(),
        created_ms: e.created_ms,
        created_by: e.created_by.clone(),
    }
}

fn list_of(name: &str) -> Result<RegistrationList, ApiError> {
    RegistrationList::parse(name).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::NOT_FOUND,
            "the registration lists are \"allow\" and \"deny\"",
        )
    })
}

/// A page of a registration list, in device-id order (viewer).
#[utoipa::path(get, path = "/api/v1/admin/registration/{list}", tag = "admin",
    params(("list" = String, Path, description = "allow or deny"), ("after" = Option<String>, Query),
        ("limit" = Option<i64>, Query)),
    responses((status = 200, body = [RegistrationEntryView]), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(list): Path<String>,
    page: Result<Query<DeviceQuery>, QueryRejection>,
) -> Result<Json<Vec<RegistrationEntryView>>, ApiError> {
    admin.require(Role::Viewer)?;
    let list = list_of(&list)?;
    let Query(page) = page.map_err(|e| ApiError::bad_request(ErrorCode::INVALID_QUERY, e.body_text()))?;
    let entries = state
        .registration()
        .list(list, page.limit.unwrap_or(100), page.after.as_deref())
        .await?;
    Ok(Json(entries.iter().map(view).collect()))
}

/// Put device ids on a list (admin): registered ahead (allow), or refused (deny; a registered
/// device on it is revoked at once). All entries or none; ids already listed keep their entry.
#[utoipa::path(post, path = "/api/v1/admin/registration/{list}", tag = "admin",
    params(("list" = String, Path, description = "allow or deny")),
    request_body = NewRegistrationEntries,
    responses((status = 200, body = RegistrationAdded), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path(list): Path<String>,
    JsonBody(body): JsonBody<NewRegistrationEntries>,
) -> Result<Json<RegistrationAdded>, ApiError> {
    let list = list_of(&list)?;
    let added = state.registration().add(&admin.caller(), list, body.entries).await?;
    Ok(Json(RegistrationAdded {
        added: added.added,
        revoked: added.revoked,
    }))
}

/// Take a device id off a list (admin). Off the deny list, a revoked device stays revoked.
#[utoipa::path(delete, path = "/api/v1/admin/registration/{list}/{device_id}", tag = "admin",
    params(("list" = String, Path, description = "allow or deny"), ("device_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    admin: AdminAuth,
    Path((list, device_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let list = list_of(&list)?;
    state.registration().remove(&admin.caller(), list, &device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
