//! Size caps on everything the registry and trust clients read from a server, and the two ways
//! of reading under a cap. A hostile server can send an endless body; nothing here reads more
//! than its cap (plus one transport chunk), and a declared `Content-Length` over the cap is
//! refused before any byte is read.

use reqwest::Response;

/// Largest manifest or index (docker's limit, and the registry's own default).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest image config blob (real ones are a few KiB; long histories stay far below this).
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;
/// Largest token endpoint answer (a JWT twice, as `token` and `access_token`, plus a few
/// fields).
pub const MAX_TOKEN_BYTES: u64 = 16 << 10;
/// How much of an error body is read for the message (the rest is dropped unread).
pub const MAX_ERROR_BYTES: u64 = 4 << 10;

/// `resp`'s body if it is at most `limit` bytes, else `None` (having read at most `limit`
/// bytes of it).
pub async fn read_capped(mut resp: Response, limit: u64) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// The start of an error body as text: at most [`MAX_ERROR_BYTES`] are read, and a failed
/// read just ends the text.
pub async fn error_text(mut resp: Response) -> String {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = usize::try_from(MAX_ERROR_BYTES).unwrap_or(usize::MAX).saturating_sub(out.len());
        out.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if out.len() as u64 >= MAX_ERROR_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
