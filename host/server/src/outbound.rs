//! Outbound HTTP: one request over HTTP/1.1, plain or TLS (Mozilla's
//! roots), with a deadline. Webhook anchors and approval notifications
//! post JSON with it; the CLI's `approvals` commands call the API with it.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Why a POST did not get a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("POST `{url}`: {message}")]
pub struct PostError {
    /// Where it went.
    pub url: String,
    /// What happened.
    pub message: String,
}

/// The largest answer read, in bytes (a webhook cannot make the server
/// hold more).
pub const MAX_ANSWER: usize = 8 * 1024 * 1024;

static TLS: LazyLock<tokio_rustls::TlsConnector> = LazyLock::new(|| {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(c) => tokio_rustls::TlsConnector::from(Arc::new(c)),
        // The ring provider supports the default versions; an empty
        // config would only fail every handshake.
        Err(_) => tokio_rustls::TlsConnector::from(Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )),
    }
});

/// Posts `body` as JSON to `url` (`http://` or `https://`) with `headers`;
/// `Ok` on a 2xx answer within `timeout`.
pub async fn post_json(
    url: &str,
    headers: &[(&str, String)],
    body: String,
    timeout: Duration,
) -> Result<(), PostError> {
    let (status, _) = request("POST", url, headers, Some(body), timeout).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(PostError {
            url: url.to_owned(),
            message: format!("answered {status}"),
        })
    }
}

/// Sends `method` to `url` with `headers` and, if given, a JSON `body`;
/// the status and the answer's body, within `timeout`.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<String>,
    timeout: Duration,
) -> Result<(u16, String), PostError> {
    let fail = |message: String| PostError {
        url: url.to_owned(),
        message,
    };
    let uri: hyper::Uri = url.parse().map_err(|e| fail(format!("bad url: {e}")))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(fail("the url must be http:// or https://".to_owned())),
    };
    let host = uri
        .host()
        .ok_or_else(|| fail("no host".to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let method: hyper::Method = method.parse().map_err(|_| fail("bad method".to_owned()))?;
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(
            hyper::header::HOST,
            uri.authority().map(|a| a.as_str()).unwrap_or(&host),
        )
        .header(hyper::header::USER_AGENT, "warden");
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| fail(e.to_string()))?;
    let call = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| fail(format!("connect: {e}")))?;
        if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| fail(format!("server name: {e}")))?;
            let stream = TLS
                .connect(name, tcp)
                .await
                .map_err(|e| fail(format!("tls: {e}")))?;
            send(hyper_util::rt::TokioIo::new(stream), req).await
        } else {
            send(hyper_util::rt::TokioIo::new(tcp), req).await
        }
        .map_err(fail)
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| fail(format!("no answer within {timeout:?}")))?
}

async fn send<T>(
    io: hyper_util::rt::TokioIo<T>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<(u16, String), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    // Read the answer whole (bounded by the deadline), which also lets the
    // connection close cleanly.
    let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}
