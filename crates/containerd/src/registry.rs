//! A small OCI distribution client: resolves manifests and streams blobs. Plain HTTP only for
//! registries on this machine; anonymous Bearer-token auth for public registries.

use std::time::Duration;

use berth_runtime::{ImageRef, RuntimeError};
use futures::Stream;
use reqwest::{header, Client, RequestBuilder, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::oci;

/// Manifests and indexes are small; a larger body is refused rather than buffered.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// One repository at one registry, with the auth token it earned.
pub struct Registry {
    http: Client,
    base: String,
    repository: String,
    display: String,
    token: Mutex<Option<String>>,
}

/// A fetched manifest or index: its bytes, media type and digest.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

impl Registry {
    pub fn new(image: &ImageRef) -> Result<Self, RuntimeError> {
        let scheme = if image.is_local_registry() {
            "http"
        } else {
            "https"
        };
        let host = if image.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &image.registry
        };
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RuntimeError::internal(format!("http client: {e}")))?;
        Ok(Self {
            http,
            base: format!("{scheme}://{host}/v2/{}", image.repository),
            repository: image.repository.clone(),
            display: image.registry.clone(),
            token: Mutex::new(None),
        })
    }

    /// Fetches a manifest or index by tag or digest and checks its digest when pinned.
    pub async fn manifest(&self, reference: &str) -> Result<Fetched, RuntimeError> {
        let url = format!("{}/manifests/{reference}", self.base);
        let resp = self
            .send(|c| c.get(&url).header(header::ACCEPT, oci::ACCEPT))
            .await?;
        let resp = self.check(resp, &format!("manifest {reference}")).await?;
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_MANIFEST_BYTES)
        {
            return Err(RuntimeError::invalid("manifest is larger than 4 MiB"));
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?.to_vec();
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(RuntimeError::invalid("manifest is larger than 4 MiB"));
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RuntimeError::invalid(format!(
                "registry returned content {digest} for {reference}"
            )));
        }
        let media_type = if media_type.is_empty() || media_type == "application/json" {
            sniff_media_type(&bytes)
        } else {
            media_type
        };
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Streams a blob's bytes (the caller verifies the digest as it writes).
    pub async fn blob(
        &self,
        digest: &str,
    ) -> Result<impl Stream<Item = reqwest::Result<bytes::Bytes>>, RuntimeError> {
        let url = format!("{}/blobs/{digest}", self.base);
        let resp = self.send(|c| c.get(&url)).await?;
        Ok(self
            .check(resp, &format!("blob {digest}"))
            .await?
            .bytes_stream())
    }

    /// Sends a request, answering one Bearer challenge with an anonymous token.
    async fn send(
        &self,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, RuntimeError> {
        let with_token = |t: &Option<String>| {
            let rb = build(&self.http);
            match t {
                Some(t) => rb.bearer_auth(t),
                None => rb,
            }
        };
        let token = self.token.lock().await.clone();
        let resp = with_token(&token)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(challenge) = challenge.filter(|c| c.to_ascii_lowercase().starts_with("bearer "))
        else {
            return Ok(resp);
        };
        let fresh = Some(self.fetch_token(&challenge).await?);
        *self.token.lock().await = fresh.clone();
        with_token(&fresh)
            .send()
            .await
            .map_err(|e| self.transport(e))
    }

    async fn fetch_token(&self, challenge: &str) -> Result<String, RuntimeError> {
        let params = parse_challenge(&challenge[7..]);
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let realm =
            get("realm").ok_or_else(|| RuntimeError::unavailable("registry auth: no realm"))?;
        let mut query = vec![];
        if let Some(s) = get("service") {
            query.push(("service", s));
        }
        query.push((
            "scope",
            get("scope").unwrap_or(format!("repository:{}:pull", self.repository)),
        ));
        let resp = self
            .http
            .get(&realm)
            .query(&query)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let resp = self.check(resp, "auth token").await?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = resp.json().await.map_err(|e| self.transport(e))?;
        t.token
            .or(t.access_token)
            .ok_or_else(|| RuntimeError::unavailable("registry auth: empty token"))
    }

    /// Turns HTTP failures into errors that say what is missing or unreachable.
    async fn check(&self, resp: Response, what: &str) -> Result<Response, RuntimeError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let name = format!("{}/{}", self.display, self.repository);
        Err(match status {
            StatusCode::NOT_FOUND => RuntimeError::not_found(format!("{what} not found in {name}")),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RuntimeError::not_found(format!(
                "{name}: access denied for {what} (the repository may not exist or be private)"
            )),
            s => RuntimeError::unavailable(format!(
                "registry {} answered {s} for {what}",
                self.display
            )),
        })
    }

    fn transport(&self, e: reqwest::Error) -> RuntimeError {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        RuntimeError::unavailable(format!("cannot reach registry {}: {cause}", self.display))
    }
}

/// Some registries send `application/json`; the body's own mediaType, or its shape, decides.
fn sniff_media_type(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(m),
            ..
        }) => m,
        Ok(Probe {
            manifests: Some(_), ..
        }) => oci::OCI_INDEX.into(),
        _ => oci::OCI_MANIFEST.into(),
    }
}

/// Parses `realm="…",service="…",scope="…"`.
fn parse_challenge(s: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = s.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(stripped) = after.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            (
                stripped[..end].to_string(),
                &stripped[(end + 1).min(stripped.len())..],
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((key, value));
        rest = remaining.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_bearer_challenges() {
        let p = super::parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[2].1, "repository:library/debian:pull");
    }
}
