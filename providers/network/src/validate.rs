//! Validators for network properties; each error says what is expected. The ids other providers
//! take too (VPC, subnet, security group) come from the kit's shared vocabulary.

use palisade_provider_kit::validate::{each, require, resource_id};
use serde_json::Value as Json;

pub use palisade_provider_kit::validate::{role_arn, security_group_ids, subnet_id, subnet_ids, vpc_id};

/// Parses an IPv4 CIDR block; the error says what is wrong.
pub fn parse_cidr(text: &str) -> Result<([u8; 4], u8), String> {
    let (address, prefix) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a CIDR block; expected an address and a prefix such as 10.0.0.0/16"))?;
    let octets: Vec<&str> = address.split('.').collect();
    let parsed: Option<Vec<u8>> = octets.iter().map(|o| o.parse::<u8>().ok()).collect();
    let octets: [u8; 4] = match parsed {
        Some(v) if v.len() == 4 => [v[0], v[1], v[2], v[3]],
        _ => {
            return Err(format!(
                "{text:?} is not a CIDR block; {address:?} is not an IPv4 address"
            ))
        }
    };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("{text:?} is not a CIDR block; the prefix must be a number from 0 to 32"))?;
    let bits = u32::from_be_bytes(octets);
    let host_bits = if prefix == 0 {
        u32::MAX
    } else {
        (1u32 << (32 - prefix)) - 1
    };
    if bits & host_bits != 0 {
        let network = (bits & !host_bits).to_be_bytes();
        return Err(format!(
            "{text:?} has host bits set; the network address is {}.{}.{}.{}/{prefix}",
            network[0], network[1], network[2], network[3]
        ));
    }
    Ok((octets, prefix))
}

/// A CIDR block whose prefix AWS accepts for a VPC or subnet (/16 to /28).
pub fn vpc_cidr(value: &Json) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    let (_, prefix) = parse_cidr(text)?;
    require((16..=28).contains(&prefix), || {
        format!("{text:?} has prefix /{prefix}; AWS accepts /16 to /28 for VPCs and subnets")
    })
}

/// An instance tenancy AWS knows.
pub fn tenancy(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("default" | "dedicated") => Ok(()),
        other => Err(format!("{other:?} is not a tenancy; expected `default` or `dedicated`")),
    }
}

/// An availability zone name such as `eu-west-1a`.
pub fn availability_zone(value: &Json) -> Result<(), String> {
    let zone = value.as_str().unwrap_or_default();
    let (region, letter) = zone.split_at(zone.len().saturating_sub(1));
    let region_like = region.split('-').count() >= 3
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    require(
        region_like && letter.chars().all(|c| c.is_ascii_lowercase()) && !letter.is_empty(),
        || format!("{zone:?} is not an availability zone; expected a region and a letter such as `eu-west-1a`"),
    )
}

/// A list of managed prefix list ids (`pl-...`).
pub fn prefix_list_ids(value: &Json) -> Result<(), String> {
    each(value, |v| resource_id(v, "pl-", "a prefix list"))
}

/// A list of route table ids (`rtb-...`).
pub fn route_table_ids(value: &Json) -> Result<(), String> {
    each(value, |v| resource_id(v, "rtb-", "a route table"))
}

/// A list of CIDR blocks (any prefix).
pub fn cidr_blocks(value: &Json) -> Result<(), String> {
    each(value, |v| parse_cidr(v.as_str().unwrap_or_default()).map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_network_addresses_in_range() {
        assert!(vpc_cidr(&json!("10.0.0.0/16")).is_ok());
        assert!(vpc_cidr(&json!("10.0.1.0/24")).is_ok());
    }

    #[test]
    fn checks_zones() {
        assert!(availability_zone(&json!("eu-west-1a")).is_ok());
        assert!(availability_zone(&json!("us-gov-west-1b")).is_ok());
        assert!(availability_zone(&json!("eu-west-1")).is_err());
        assert!(availability_zone(&json!("a")).is_err());
    }

    #[test]
    fn says_what_is_wrong_with_a_cidr() {
        assert_eq!(
            vpc_cidr(&json!("10.0.0.0/8")).unwrap_err(),
            "\"10.0.0.0/8\" has prefix /8; AWS accepts /16 to /28 for VPCs and subnets"
        );
        assert_eq!(
            vpc_cidr(&json!("10.0.0.1/16")).unwrap_err(),
            "\"10.0.0.1/16\" has host bits set; the network address is 10.0.0.0/16"
        );
        assert!(vpc_cidr(&json!("10.0.0/16"))
            .unwrap_err()
            .contains("is not an IPv4 address"));
        assert!(vpc_cidr(&json!("10.0.0.0"))
            .unwrap_err()
            .contains("expected an address and a prefix"));
        assert!(vpc_cidr(&json!("10.0.0.0/33"))
            .unwrap_err()
            .contains("prefix must be a number from 0 to 32"));
        assert!(vpc_cidr(&json!("300.0.0.0/16"))
            .unwrap_err()
            .contains("is not an IPv4 address"));
    }
}
