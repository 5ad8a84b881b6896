//! The OpenAPI document at `/api/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, device, download, error, ingest, rollouts};
use crate::domain::status::StatusReport;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "ota-server", description = "Distributes offline-signed releases. Devices authenticate with \
        mutual TLS; admins with bearer tokens. Errors: {\"error\":{\"code\",\"message\"}} with stable codes."),
    paths(
        device::checkin, device::status, download::artifact,
        ingest::upload, admin::list_releases, admin::get_release, admin::list_devices, admin::get_device,
        admin::revoke, admin::decommission, admin::set_tags, admin::create_token, admin::audit_log,
        rollouts::create, rollouts::list, rollouts::get, rollouts::act, rollouts::fleet,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, device::CheckinRequest, device::RunningImage, device::CheckinResponse,
        crate::domain::offer::NoUpdateReason, device::UpdateOffer, device::Link, device::PatchLink, StatusReport, admin::ReleaseView, admin::PatchView,
        admin::DeviceView, admin::DeviceDetail, admin::EventView, admin::NewToken, admin::CreatedToken,
        admin::AuditView, admin::DeviceTags, rollouts::NewRollout, rollouts::PlanInput, rollouts::StageInput, rollouts::FleetView,
        rollouts::ClassVersions, rollouts::VersionView, crate::rollouts::RolloutView,
        crate::rollouts::view::StageView, crate::rollouts::view::CountsView, crate::rollouts::view::TimelineView,
        crate::rollouts::view::RolloutReleaseView,
    )),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
