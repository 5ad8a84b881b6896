//! A typed client of the admin API (feature `client`): one method per endpoint, the protocol's
//! types in and out, errors as the server's stable code or a transport failure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ota_protocol::client::ClientError> {
//! use ota_protocol::client::{AdminClient, ReleaseUpload};
//! use ota_protocol::rollouts::{NewRollout, RolloutAction};
//!
//! let ca = std::fs::read("srv/tls/fleet-ca.pem").expect("CA certificate");
//! let token = std::fs::read_to_string("admin.token").expect("token");
//! let client = AdminClient::builder("https://localhost:8443").ca_pem(ca).token(token.trim()).build()?;
//! let release = client.upload_release(&ReleaseUpload::from_dir("release-1.1.0".as_ref())?).await?;
//! let rollout = client.create_rollout(&NewRollout::of(release.id)).await?;
//! client.rollout_action(rollout.id, &RolloutAction::PAUSE).await?;
//! # Ok(())
//! # }
//! ```

mod error;
mod upload;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::admin::{
    AuditView, CertificateView, CreatedEnrollmentToken, CreatedToken, DecommissionQuery, DeviceClassAssignment,
    DeviceDetail, DeviceExport, DeviceQuery, DeviceTags, DeviceView, NewEnrollmentToken, NewRegistrationEntries,
    NewToken, RegistrationAdded, RegistrationEntryView, ReleaseView, TokenView, AUDIT_PATH, DEVICES_PATH,
    ENROLLMENT_TOKENS_PATH, REGISTRATION_PATH, RELEASES_PATH, TOKENS_PATH,
};
use crate::rollouts::{FleetView, NewRollout, RolloutAction, RolloutView, FLEET_PATH, ROLLOUTS_PATH};
use crate::ErrorBody;
pub use error::ClientError;
pub use upload::{BundleFile, ReleaseUpload, ENVELOPE_FILE, SUMMARY_FILE};

/// Longest part of an unexpected response body kept in [`ClientError::UnexpectedResponse`].
const MAX_DETAIL: usize = 512;

/// An admin API client: a base URL, the CA that issued the server's certificate, a bearer
/// token. Cheap to clone (connections are pooled and shared).
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("AdminClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Settings of an [`AdminClient`]; [`AdminClientBuilder::build`] checks them.
#[derive(Clone)]
pub struct AdminClientBuilder {
    base_url: String,
    ca_pems: Vec<Vec<u8>>,
    token: String,
    resolve: Vec<(String, SocketAddr)>,
    timeout: Duration,
}

impl std::fmt::Debug for AdminClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClientBuilder")
            .field("base_url", &self.base_url)
            .field("ca_certificates", &self.ca_pems.len())
            .field("resolve", &self.resolve)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AdminClientBuilder {
    /// Trusts the CA certificate(s) in this PEM for `https` (`ota-server init` makes the
    /// server's certificate with the fleet CA, `srv/tls/fleet-ca.pem`). Only the CAs given here
    /// are trusted; `https` needs at least one.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// The bearer token (`ota_...`) sent with every request.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// Connects to `addr` for `host` instead of resolving it (the name is still checked
    /// against the certificate).
    pub fn resolve(mut self, host: impl Into<String>, addr: SocketAddr) -> Self {
        self.resolve.push((host.into(), addr));
        self
    }

    /// Gives up on a request after this long (default 120 s, uploads included).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<AdminClient, ClientError> {
        let base = Url::parse(&self.base_url)
            .map_err(|e| ClientError::Config(format!("server URL {:?}: {e}", self.base_url)))?;
        match base.scheme() {
            "https" if self.ca_pems.is_empty() => {
                return Err(ClientError::Config(
                    "an https server URL needs the CA certificate that issued the server's certificate".into(),
                ))
            }
            "https" | "http" if base.cannot_be_a_base() || base.host().is_none() => {
                return Err(ClientError::Config(format!("server URL {base} has no host")))
            }
            "https" | "http" => {}
            other => return Err(ClientError::Config(format!("server URL scheme {other:?}: use https"))),
        }
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .timeout(self.timeout);
        for pem in &self.ca_pems {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Config(format!("CA certificate: {e}")))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        for (host, addr) in &self.resolve {
            http = http.resolve(host, *addr);
        }
        let http = http
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(AdminClient {
            http,
            base,
            token: self.token,
        })
    }
}

impl AdminClient {
    /// A client of the server at `base_url` (e.g. `https://ota.example:8443`; a path prefix is
    /// kept, for a server behind a proxy).
    pub fn builder(base_url: impl Into<String>) -> AdminClientBuilder {
        AdminClientBuilder {
            base_url: base_url.into(),
            ca_pems: Vec::new(),
            token: String::new(),
            resolve: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }

    /// The same server and connections with another token.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            token: token.into(),
        }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /api/v1/admin/releases` (release-manager): the server verifies the bundle as a
    /// device would and stores it, or refuses it whole with the failed check's code
    /// (`sequence_not_above_previous`, `manifest_untrusted_key`, ...).
    pub async fn upload_release(&self, upload: &ReleaseUpload) -> Result<ReleaseView, ClientError> {
        let url = self.endpoint(RELEASES_PATH, &[])?;
        self.send(self.http.post(url).multipart(upload.form())).await
    }

    /// `GET /api/v1/admin/releases` (viewer).
    pub async fn releases(&self) -> Result<Vec<ReleaseView>, ClientError> {
        self.get(RELEASES_PATH, &[]).await
    }

    /// `GET /api/v1/admin/releases/{id}` (viewer).
    pub async fn release(&self, id: i64) -> Result<ReleaseView, ClientError> {
        self.get(RELEASES_PATH, &[&id.to_string()]).await
    }

    /// `POST /api/v1/admin/rollouts` (release-manager).
    pub async fn create_rollout(&self, rollout: &NewRollout) -> Result<RolloutView, ClientError> {
        self.call(Method::POST, ROLLOUTS_PATH, &[], Some(rollout)).await
    }

    /// `GET /api/v1/admin/rollouts` (viewer): newest first.
    pub async fn rollouts(&self) -> Result<Vec<RolloutView>, ClientError> {
        self.get(ROLLOUTS_PATH, &[]).await
    }

    /// `GET /api/v1/admin/rollouts/{id}` (viewer).
    pub async fn rollout(&self, id: i64) -> Result<RolloutView, ClientError> {
        self.get(ROLLOUTS_PATH, &[&id.to_string()]).await
    }

    /// `POST /api/v1/admin/rollouts/{id}/{action}` (release-manager): the rollout after it.
    /// An action that does not apply in the rollout's state is `invalid_action` (409).
    pub async fn rollout_action(&self, id: i64, action: &RolloutAction) -> Result<RolloutView, ClientError> {
        self.call(
            Method::POST,
            ROLLOUTS_PATH,
            &[&id.to_string(), action.as_str()],
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v1/admin/fleet` (viewer): what the active devices run, per class.
    pub async fn fleet(&self) -> Result<FleetView, ClientError> {
        self.get(FLEET_PATH, &[]).await
    }

    /// `GET /api/v1/admin/devices` (viewer): one page, ordered by id.
    pub async fn devices(&self, query: &DeviceQuery) -> Result<Vec<DeviceView>, ClientError> {
        let url = self.endpoint(DEVICES_PATH, &[])?;
        self.send(self.http.get(url).query(query)).await
    }

    /// `GET /api/v1/admin/devices/{id}` (viewer): the device and its newest events.
    pub async fn device(&self, id: &str) -> Result<DeviceDetail, ClientError> {
        self.get(DEVICES_PATH, &[id]).await
    }

    /// `POST /api/v1/admin/devices/{id}/revoke` (admin): refused from its next request on.
    pub async fn revoke_device(&self, id: &str) -> Result<DeviceView, ClientError> {
        self.call(Method::POST, DEVICES_PATH, &[id, "revoke"], None::<&()>)
            .await
    }

    /// `POST /api/v1/admin/devices/{id}/decommission` (admin): `factory_reset` at the device's
    /// next check-in, then revoked and retired; `immediate`: revoked and retired at once.
    pub async fn decommission_device(&self, id: &str, immediate: bool) -> Result<DeviceView, ClientError> {
        let url = self.endpoint(DEVICES_PATH, &[id, "decommission"])?;
        let query = DecommissionQuery {
            immediate: immediate.then_some(true),
        };
        self.send(self.http.post(url).query(&query)).await
    }

    /// `GET /api/v1/admin/devices/{id}/export` (admin): everything held of the device.
    pub async fn export_device(&self, id: &str) -> Result<DeviceExport, ClientError> {
        self.get(DEVICES_PATH, &[id, "export"]).await
    }

    /// `GET /api/v1/admin/devices/{id}/certificates` (viewer): newest first.
    pub async fn device_certificates(&self, id: &str) -> Result<Vec<CertificateView>, ClientError> {
        self.get(DEVICES_PATH, &[id, "certificates"]).await
    }

    /// `POST /api/v1/admin/devices/{id}/certificates/{serial}/revoke` (admin): requests made
    /// with that certificate are refused; the device's others keep working.
    pub async fn revoke_certificate(&self, id: &str, serial: &str) -> Result<CertificateView, ClientError> {
        self.call(
            Method::POST,
            DEVICES_PATH,
            &[id, "certificates", serial, "revoke"],
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v1/admin/enrollment-tokens` (admin): a one-time EST enrolment token, once.
    pub async fn create_enrollment_token(
        &self,
        token: &NewEnrollmentToken,
    ) -> Result<CreatedEnrollmentToken, ClientError> {
        self.call(Method::POST, ENROLLMENT_TOKENS_PATH, &[], Some(token)).await
    }

    /// `GET /api/v1/admin/registration/{list}` (viewer): a page of the allow or deny list.
    pub async fn registration_entries(
        &self,
        list: &str,
        query: &DeviceQuery,
    ) -> Result<Vec<RegistrationEntryView>, ClientError> {
        let url = self.endpoint(REGISTRATION_PATH, &[list])?;
        self.send(self.http.get(url).query(query)).await
    }

    /// `POST /api/v1/admin/registration/{list}` (admin): adds entries (all or none); on the
    /// deny list, registered devices are revoked.
    pub async fn add_registration_entries(
        &self,
        list: &str,
        entries: &NewRegistrationEntries,
    ) -> Result<RegistrationAdded, ClientError> {
        self.call(Method::POST, REGISTRATION_PATH, &[list], Some(entries)).await
    }

    /// `DELETE /api/v1/admin/registration/{list}/{device_id}` (admin).
    pub async fn remove_registration_entry(&self, list: &str, device_id: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, REGISTRATION_PATH, &[list, device_id], None::<&()>)
            .await
    }

    /// `PUT /api/v1/admin/devices/{id}/tags` (release-manager): replaces the device's tags.
    pub async fn set_device_tags(&self, id: &str, tags: &DeviceTags) -> Result<DeviceView, ClientError> {
        self.call(Method::PUT, DEVICES_PATH, &[id, "tags"], Some(tags)).await
    }

    /// `PUT /api/v1/admin/devices/{id}/class` (release-manager): assigns the device's class,
    /// registering it if it is new.
    pub async fn set_device_class(&self, id: &str, class: &DeviceClassAssignment) -> Result<DeviceView, ClientError> {
        self.call(Method::PUT, DEVICES_PATH, &[id, "class"], Some(class)).await
    }

    /// `POST /api/v1/admin/tokens` (admin): the new token is in the answer, once.
    pub async fn create_token(&self, token: &NewToken) -> Result<CreatedToken, ClientError> {
        self.call(Method::POST, TOKENS_PATH, &[], Some(token)).await
    }

    /// `GET /api/v1/admin/tokens` (admin): every token, never a secret.
    pub async fn tokens(&self) -> Result<Vec<TokenView>, ClientError> {
        self.get(TOKENS_PATH, &[]).await
    }

    /// `POST /api/v1/admin/tokens/{id}/revoke` (admin): refused from its next request on.
    pub async fn revoke_token(&self, id: i64) -> Result<TokenView, ClientError> {
        self.call(Method::POST, TOKENS_PATH, &[&id.to_string(), "revoke"], None::<&()>)
            .await
    }

    /// `GET /api/v1/admin/audit` (admin): the newest entries, newest first.
    pub async fn audit(&self) -> Result<Vec<AuditView>, ClientError> {
        self.get(AUDIT_PATH, &[]).await
    }

    /// `path` (an API path constant) under the base URL, then `segments`, each escaped.
    fn endpoint(&self, path: &str, segments: &[&str]) -> Result<Url, ClientError> {
        // URLs drop "." and ".." segments: such an id would name another resource.
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
            return Err(ClientError::InvalidArgument(format!("{bad:?} is not a valid id")));
        }
        let mut url = self.base.clone();
        {
            let mut s = url
                .path_segments_mut()
                .map_err(|()| ClientError::Config(format!("server URL {} cannot take a path", self.base)))?;
            s.pop_if_empty();
            s.extend(path.split('/').filter(|p| !p.is_empty()));
            s.extend(segments);
        }
        Ok(url)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, segments: &[&str]) -> Result<T, ClientError> {
        self.call(Method::GET, path, segments, None::<&()>).await
    }

    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut req = self.http.request(method, self.endpoint(path, segments)?);
        if let Some(body) = body {
            req = req.json(body);
        }
        self.send(req).await
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let response = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(ClientError::Transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(ClientError::Transport)?;
        if (200..300).contains(&status) {
            // 204 No Content: the answer is `()`.
            let body: &[u8] = if status == 204 && body.is_empty() {
                b"null"
            } else {
                &body
            };
            return serde_json::from_slice(body).map_err(|e| ClientError::UnexpectedResponse {
                status,
                detail: format!("not the expected JSON ({e}): {}", excerpt(body)),
            });
        }
        Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => ClientError::Api {
                status,
                code: e.error.code,
                message: e.error.message,
            },
            Err(_) => ClientError::UnexpectedResponse {
                status,
                detail: excerpt(&body),
            },
        })
    }
}

/// The start of a body, as text, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut end = text.len().min(MAX_DETAIL);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text.get(..end).unwrap_or_default().trim().to_owned();
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> AdminClient {
        AdminClient::builder(base).token("ota_x").build().unwrap()
    }

    #[test]
    fn endpoints_escape_ids_and_keep_a_path_prefix() {
        let c = client("http://localhost:8080/ota/");
        assert_eq!(
            c.endpoint(DEVICES_PATH, &["dev 1/..", "tags"]).unwrap().as_str(),
            "http://localhost:8080/ota/api/v1/admin/devices/dev%201%2F..%2Ftags".replace("%2Ftags", "/tags")
        );
        let c = client("http://localhost:8080");
        assert!(c.endpoint(DEVICES_PATH, &[".."]).is_err());
        assert_eq!(
            c.endpoint(ROLLOUTS_PATH, &["7", RolloutAction::RETRY_FAILED.as_str()])
                .unwrap()
                .as_str(),
            "http://localhost:8080/api/v1/admin/rollouts/7/retry-failed"
        );
    }

    #[test]
    fn settings_are_checked() {
        let no_ca = AdminClient::builder("https://localhost:8443").build().unwrap_err();
        assert!(no_ca.to_string().contains("CA certificate"), "{no_ca}");
        assert!(AdminClient::builder("ftp://x").build().is_err());
        assert!(AdminClient::builder("not a url").build().is_err());
        let bad_pem = AdminClient::builder("https://localhost:8443")
            .ca_pem("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
            .build();
        assert!(bad_pem.is_err());
        assert!(
            !format!("{:?}", client("http://h")).contains("ota_x"),
            "the token stays out of Debug"
        );
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(b"  <html>  "), "<html>");
        let long = "é".repeat(MAX_DETAIL);
        assert!(excerpt(long.as_bytes()).len() <= MAX_DETAIL + '…'.len_utf8());
    }
}
