//! AWS helpers shared by the security resources: the clients, policy text, tag shapes.

use palisade_provider_kit::prelude::*;
use serde_json::Value as Json;

/// The KMS client of this provider process.
pub(crate) async fn kms(ctx: &Context) -> Result<aws_sdk_kms::Client> {
    ctx.client(aws_sdk_kms::Client::new).await
}

/// The IAM client of this provider process.
pub(crate) async fn iam(ctx: &Context) -> Result<aws_sdk_iam::Client> {
    ctx.client(aws_sdk_iam::Client::new).await
}

/// The Organizations client of this provider process (answers only in the organization's
/// management account or a delegated administrator).
pub(crate) async fn organizations(ctx: &Context) -> Result<aws_sdk_organizations::Client> {
    ctx.client(aws_sdk_organizations::Client::new).await
}

/// The S3 client of this provider process.
pub(crate) async fn s3(ctx: &Context) -> Result<aws_sdk_s3::Client> {
    ctx.client(path_style_s3).await
}

/// An S3 client that puts the bucket in the path, not the host name: an endpoint override (a local
/// emulator, a VPC endpoint URL) has no per-bucket DNS names.
fn path_style_s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// A policy document AWS returned, as a JSON value. IAM returns documents URL-encoded; KMS and S3
/// return them plain.
pub(crate) fn policy_from_aws(text: &str) -> Json {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&percent_decode(text)))
        .unwrap_or_else(|_| Json::String(text.to_string()))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Logs and returns the id of a resource an interrupted earlier run created for this URN.
pub(crate) fn adopting(kind: &str, id: String, urn: &str) -> String {
    tracing::info!(kind, id, urn, "adopting what an earlier run created");
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_plain_and_url_encoded_documents() {
        let document = json!({"Version": "2012-10-17", "Statement": []});
        assert_eq!(policy_from_aws(&document.to_string()), document);
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(policy_from_aws(encoded), document);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
