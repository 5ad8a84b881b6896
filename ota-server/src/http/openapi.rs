//! The OpenAPI document at `/api/v1/openapi.json`.

use axum::Json;
use ota_protocol::{admin, device, rollouts, ErrorBody, ErrorCode, ErrorDetail};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin as admin_http, device as device_http, download, enrollment, ingest, registration as registration_http,
    rollouts as rollouts_http,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "ota-server", description = "Distributes offline-signed releases. Devices authenticate with \
        mutual TLS; admins with bearer tokens. Errors: {\"error\":{\"code\",\"message\"}} with stable codes."),
    paths(
        device_http::checkin, device_http::status, download::artifact,
        ingest::upload, admin_http::list_releases, admin_http::get_release, admin_http::list_devices,
        admin_http::get_device, admin_http::revoke, admin_http::decommission, admin_http::export, admin_http::set_tags, admin_http::set_class,
        admin_http::create_token, admin_http::list_tokens, admin_http::revoke_token, admin_http::audit_log,
        rollouts_http::create, rollouts_http::list, rollouts_http::get, rollouts_http::act, rollouts_http::fleet,
        registration_http::list, registration_http::add, registration_http::remove,
        enrollment::cacerts, enrollment::simpleenroll, enrollment::simplereenroll, enrollment::crl,
        enrollment::create_token, enrollment::certificates, enrollment::revoke_certificate,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ErrorCode,
        device::CheckinRequest, device::RunningImage, device::CheckinResponse, device::NoUpdateReason,
        device::UpdateOffer, device::Link, device::PatchLink, device::StatusReport,
        admin::ReleaseView, admin::PatchView, admin::DeviceView, admin::DeviceState, admin::DeviceDetail,
        admin::EventView, admin::NewToken, admin::Role, admin::CreatedToken, admin::TokenView, admin::AuditView, admin::DeviceTags,
        admin::DeviceClassAssignment, admin::NewRegistrationEntry, admin::NewRegistrationEntries,
        admin::RegistrationAdded, admin::RegistrationEntryView, rollouts::SuspiciousDevice,
        admin::NewEnrollmentToken, admin::CreatedEnrollmentToken, admin::CertificateView, admin::DeviceExport,
        device::DeviceCommand,
        rollouts::NewRollout, rollouts::PlanInput, rollouts::StageInput, rollouts::Promotion, rollouts::RolloutAction,
        rollouts::RolloutView, rollouts::RolloutState, rollouts::PauseKind, rollouts::RolloutReleaseView,
        rollouts::StageView, rollouts::StageStatus, rollouts::CountsView, rollouts::TimelineView,
        rollouts::TimelineKind, rollouts::FleetView, rollouts::ClassVersions, rollouts::VersionView,
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
