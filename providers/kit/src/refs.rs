//! References to a declared resource's outputs, named by the resource's own declaration.
//!
//! A program uses one resource's output as another's input through a reference: a marker string,
//! `${palisade:<urn>#<property>}`, that the engine finds (to order the graph) and replaces with the
//! output's value before each provider call. `#[derive(Properties)]` gives every declared struct a
//! companion `<Struct>Refs` with one method per property (`VpcStateRefs::vpc_id`), so that a
//! misspelt output does not compile; [`ResourceRef::output`] is the escape hatch by wire name, and
//! [`check_output`] refuses a name the kind does not declare, naming the closest one.

use crate::schema::ObjectSpec;

/// How every reference marker starts.
pub const MARKER_OPEN: &str = "${palisade:";

/// The marker for output `property` of the resource `urn`.
pub fn marker(urn: &str, property: &str) -> String {
    format!("{MARKER_OPEN}{urn}#{property}}}")
}

/// A declared struct whose properties can be referred to: its outputs, once declared.
pub trait Referable {
    /// One method per declared property, each giving that property's reference; derefs to the
    /// references of a flattened struct (the inputs of a resource's outputs), and finally to
    /// [`ResourceRef`].
    type Refs: From<ResourceRef> + AsRef<ResourceRef> + Clone + std::fmt::Debug + Send + Sync + 'static;
}

/// A declared resource of any kind, as references to its outputs name it.
#[derive(Debug, Clone)]
pub struct ResourceRef {
    urn: String,
    kind: &'static str,
    outputs: fn() -> ObjectSpec,
}

impl PartialEq for ResourceRef {
    fn eq(&self, other: &Self) -> bool {
        self.urn == other.urn
    }
}

impl Eq for ResourceRef {}

impl AsRef<ResourceRef> for ResourceRef {
    fn as_ref(&self) -> &ResourceRef {
        self
    }
}

impl ResourceRef {
    /// The resource `urn` of kind `kind` (`Vpc`), whose outputs `outputs` declares.
    pub fn new(urn: impl Into<String>, kind: &'static str, outputs: fn() -> ObjectSpec) -> Self {
        Self {
            urn: urn.into(),
            kind,
            outputs,
        }
    }

    /// The resource's URN.
    pub fn urn(&self) -> &str {
        &self.urn
    }

    /// The resource's kind (`Vpc`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The declaration of the resource's outputs.
    pub fn outputs(&self) -> ObjectSpec {
        (self.outputs)()
    }

    /// Output `property` by its wire name (`vpcId`): the escape hatch beside the typed accessors.
    /// The SDK checks the name against the kind's declaration when the resource that uses it is
    /// declared ([`ResourceRef::check`]), and refuses it there, naming the closest declared output.
    pub fn output(&self, property: &str) -> String {
        marker(&self.urn, property)
    }

    /// Refuses `property` unless the kind declares it as an output.
    pub fn check(&self, property: &str) -> Result<(), UnknownOutput> {
        check_output(self.kind, &self.outputs(), property)
    }

    /// The reference to a declared output; what the generated accessors return.
    #[doc(hidden)]
    pub fn reference(&self, property: &'static str) -> String {
        marker(&self.urn, property)
    }
}

/// A reference names an output its kind does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOutput {
    /// The resource kind (`Vpc`).
    pub kind: &'static str,
    /// The name asked for.
    pub property: String,
    /// The declared output closest to it, if any is close.
    pub closest: Option<&'static str>,
}

impl std::fmt::Display for UnknownOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} has no output `{}`", self.kind, self.property)?;
        match self.closest {
            Some(closest) => write!(
                f,
                "; did you mean `{closest}`? The typed accessor (`{}`) has the compiler check the name",
                snake_case(closest)
            ),
            None => write!(f, "; see its declared outputs, or use a typed accessor"),
        }
    }
}

impl std::error::Error for UnknownOutput {}

/// Refuses `property` unless `outputs` (of `kind`) declares it.
pub fn check_output(kind: &'static str, outputs: &ObjectSpec, property: &str) -> Result<(), UnknownOutput> {
    if outputs.property(property).is_some() {
        return Ok(());
    }
    Err(UnknownOutput {
        kind,
        property: property.to_string(),
        closest: closest(property, outputs.properties.iter().map(|p| p.name)),
    })
}

/// The candidate nearest to `wanted` (case-insensitive edit distance), if it is near enough to be a
/// likely misspelling.
fn closest(wanted: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let wanted_lower = wanted.to_lowercase();
    candidates
        .map(|c| (edit_distance(&wanted_lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.len().max(wanted.len()) / 2).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `vpcId` as the accessor `vpc_id()`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_uppercase() {
            out.push('_');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out + "()"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Properties;
    use serde::{Deserialize, Serialize};

    /// Inputs of a test thing.
    #[derive(Debug, Clone, Serialize, Deserialize, Properties)]
    #[serde(rename_all = "camelCase")]
    struct NetArgs {
        /// The range.
        cidr_block: String,
        /// Tags.
        #[serde(default)]
        tags: std::collections::BTreeMap<String, String>,
    }

    /// Outputs of a test thing.
    #[derive(Debug, Clone, Serialize, Deserialize, Properties)]
    #[serde(rename_all = "camelCase")]
    struct NetState {
        #[serde(flatten)]
        args: NetArgs,
        /// The id.
        vpc_id: String,
    }

    fn net() -> ResourceRef {
        ResourceRef::new("urn:pulumi:dev::p::t:index:Net::main", "Net", NetState::object_spec)
    }

    #[test]
    fn accessors_give_the_marker_of_their_declared_name() {
        let refs = <NetState as Referable>::Refs::from(net());
        assert_eq!(refs.vpc_id(), marker(net().urn(), "vpcId"));
        // Flattened inputs are outputs too.
        assert_eq!(refs.cidr_block(), marker(net().urn(), "cidrBlock"));
        assert_eq!(refs.urn(), net().urn());
    }

    #[test]
    fn a_misspelt_output_names_the_kind_and_the_closest_declared_one() {
        assert_eq!(net().output("vpcId"), marker(net().urn(), "vpcId"));
        assert_eq!(net().check("vpcId"), Ok(()));
        let error = net().check("vpcID").expect_err("not declared");
        assert_eq!(error.closest, Some("vpcId"));
        let text = error.to_string();
        assert!(text.contains("Net has no output `vpcID`"), "{text}");
        assert!(text.contains("did you mean `vpcId`?"), "{text}");
        assert!(text.contains("`vpc_id()`"), "{text}");
        let far = net().check("securityGroups").expect_err("not declared");
        assert_eq!(far.closest, None, "nothing is close to it");
    }

    #[test]
    fn names_and_constructors_come_from_the_declaration() {
        assert_eq!(NetArgs::CIDR_BLOCK, "cidrBlock");
        assert_eq!(NetState::VPC_ID, "vpcId");
        let args = NetArgs::new("10.0.0.0/16").with_tags([("team".to_string(), "ml".to_string())].into());
        assert_eq!(args.cidr_block, "10.0.0.0/16");
        assert_eq!(args.tags.len(), 1);
        let plain = NetArgs::new("10.0.0.0/16");
        assert!(plain.tags.is_empty(), "a defaulted property takes its declared default");
    }
}
