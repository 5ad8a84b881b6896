//! Scenario suite: each scenario runs against SQLite and against PostgreSQL (a fresh schema per
//! test). PostgreSQL being unreachable fails the PostgreSQL half; it is never skipped.

#[path = "scenarios/bundles.rs"]
mod bundles;
#[path = "scenarios/cases.rs"]
mod cases;
#[path = "scenarios/harness.rs"]
mod harness;

use harness::Backend;

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::cases::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::cases::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

both_backends!(
    upload_checkin_download_and_verify_like_a_device,
    patch_offered_only_when_base_matches,
    rejects_each_kind_of_bad_bundle_and_stores_nothing,
    rollback_sequence_refused,
    download_resumes_after_dropped_connection,
    revoke_mid_session_refuses_next_request_on_open_connection,
    decommission_keeps_history,
    auth_and_roles,
    bad_device_input_gets_stable_4xx,
    checkin_rate_limited,
    restart_keeps_state,
    status_reports_recorded,
    graceful_shutdown_finishes_inflight_download,
    graceful_shutdown_flushes_written_behind_checkins,
    rollout_api_and_tags,
    class_from_certificate_only,
    cross_class_download,
    planted_artifact,
    orphans_after_crash,
    report_flood,
    token_revoked,
    token_expired,
    failed_login_audited,
    metrics_need_a_token_when_configured,
    forged_commit_not_counted,
    stalled_reader,
    revoked_mid_download,
    registration_policy,
    est_openssl_client,
    est_proof_of_possession,
    revoke_serial,
    crl_openssl,
    rotation_grace_window,
);

/// The artifact store behind the `object_store` crate (what replicas would share).
mod sqlite_object_store {
    use super::cases;
    use super::Backend::SqliteObjectStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upload_checkin_download_and_verify_like_a_device() {
        cases::upload_checkin_download_and_verify_like_a_device(SqliteObjectStore).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn download_resumes_after_dropped_connection() {
        cases::download_resumes_after_dropped_connection(SqliteObjectStore).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restart_keeps_state() {
        cases::restart_keeps_state(SqliteObjectStore).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn planted_artifact() {
        cases::planted_artifact(SqliteObjectStore).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orphans_after_crash() {
        cases::orphans_after_crash(SqliteObjectStore).await
    }
}
