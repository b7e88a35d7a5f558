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
/// An auth token answer (a JSON object holding a JWT) is far smaller.
const MAX_TOKEN_BYTES: usize = 1 << 20;

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
        let bytes = self
            .read_capped(resp, MAX_MANIFEST_BYTES, "manifest")
            .await?;
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
        self.check_realm(&realm)?;
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
        let body = self
            .read_capped(resp, MAX_TOKEN_BYTES, "auth token")
            .await?;
        let t: Token = serde_json::from_slice(&body).map_err(|e| {
            RuntimeError::unavailable(format!("registry auth: malformed token: {e}"))
        })?;
        t.token
            .or(t.access_token)
            .ok_or_else(|| RuntimeError::unavailable("registry auth: empty token"))
    }

    /// A body of at most `max` bytes, read as it arrives: a registry that sends more (with or
    /// without a Content-Length) is refused before it can fill memory.
    async fn read_capped(
        &self,
        resp: Response,
        max: usize,
        what: &str,
    ) -> Result<Vec<u8>, RuntimeError> {
        use futures::StreamExt;
        let too_big = || RuntimeError::invalid(format!("{what} is larger than {} KiB", max >> 10));
        if resp.content_length().is_some_and(|l| l > max as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(e))?;
            if body.len() + chunk.len() > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Where a registry may send Berth for a token: over https, or to the registry itself (a
    /// local plain-HTTP registry). Anything else could make Berth fetch from any address the
    /// registry names.
    fn check_realm(&self, realm: &str) -> Result<(), RuntimeError> {
        let url = reqwest::Url::parse(realm).map_err(|e| {
            RuntimeError::unavailable(format!("registry auth: bad realm {realm:?}: {e}"))
        })?;
        let own = reqwest::Url::parse(&self.base).ok();
        let same_host = own.is_some_and(|o| {
            o.host_str() == url.host_str()
                && o.port_or_known_default() == url.port_or_known_default()
        });
        if url.scheme() == "https" || (url.scheme() == "http" && same_host) {
            return Ok(());
        }
        Err(RuntimeError::unavailable(format!(
            "registry auth: refusing the token realm {realm:?} (only https, or the registry itself)"
        )))
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::Registry;
    use berth_runtime::ImageRef;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A registry on 127.0.0.1 that answers every request with `head` and then `chunk` in HTTP
    /// chunked encoding until the client hangs up or `chunks` were sent.
    /// Returns the port and the count of body bytes the client accepted.
    async fn hostile_registry(
        head: &'static str,
        chunk: usize,
        chunks: usize,
    ) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let body = format!("{chunk:x}\r\n{}\r\n", "x".repeat(chunk));
                    for _ in 0..chunks {
                        if s.write_all(body.as_bytes()).await.is_err() {
                            return;
                        }
                        counter.fetch_add(chunk, Ordering::Relaxed);
                    }
                    let _ = s.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        (port, sent)
    }

    fn registry(port: u16) -> Registry {
        Registry::new(&ImageRef::parse(&format!("127.0.0.1:{port}/hostile:1")).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_manifest_without_length_is_cut_off_at_the_limit() {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                    Transfer-Encoding: chunked\r\n\r\n";
        // 64 MiB on offer; the client must stop after 4 MiB.
        let (port, sent) = hostile_registry(head, 64 << 10, 1024).await;
        let e = registry(port).manifest("1").await.err().expect("refused");
        assert!(e.message.contains("larger than"), "{e}");
        // What the kernel's socket buffers took in beyond the limit, not the whole 64 MiB.
        let sent = sent.load(Ordering::Relaxed);
        assert!(
            sent < 24 << 20,
            "the client read {sent} bytes of an endless manifest"
        );
    }

    #[tokio::test]
    async fn a_token_realm_elsewhere_over_plain_http_is_refused() {
        let head = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\
                    WWW-Authenticate: Bearer realm=\"http://169.254.169.254/latest/meta-data\",service=\"x\"\r\n\r\n";
        let (port, _) = hostile_registry(head, 0, 0).await;
        let e = registry(port).manifest("1").await.err().expect("refused");
        assert!(e.message.contains("refusing the token realm"), "{e}");
        let r = registry(port);
        assert!(r.check_realm("https://auth.example.org/token").is_ok());
        assert!(r
            .check_realm(&format!("http://127.0.0.1:{port}/token"))
            .is_ok());
        assert!(r.check_realm("http://127.0.0.1:1/token").is_err());
        assert!(r.check_realm("file:///etc/passwd").is_err());
    }

    #[test]
    fn descriptor_sizes_must_be_sane() {
        let parse = |size: &str| {
            serde_json::from_str::<crate::oci::Descriptor>(&format!(
                r#"{{"mediaType": "x", "digest": "sha256:1", "size": {size}}}"#
            ))
        };
        assert!(parse("1").is_ok());
        assert!(parse("-1").is_err());
        assert!(parse("9223372036854775807").is_err());
    }

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
