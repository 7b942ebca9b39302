//! Property declarations and the Pulumi package schema built from them.
//!
//! `#[derive(Properties)]` produces an [`ObjectSpec`] per struct; resources and functions are listed in
//! a [`PackageSpec`]; [`PackageSpec::to_schema`] renders the Pulumi package schema (validated against
//! Pulumi's metaschema by a test). Check's validation and the default Diff read the same specs.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Map, Value as Json};

pub use palisade_kit_derive::Properties;
/// JSON values, as the derive names them in the default functions it writes.
pub use serde_json::Value as JsonValue;

/// A struct whose fields are declared properties.
pub trait Properties {
    /// The declaration of every property of this struct.
    fn object_spec() -> ObjectSpec;
}

/// A Rust type that maps to a Pulumi schema type.
pub trait SchemaType {
    /// Whether the property may be absent (`Option<T>`).
    const OPTIONAL: bool = false;
    /// The Pulumi type of this Rust type.
    fn property_type() -> PropertyType;
}

/// The declared properties of one object (resource inputs, outputs, or a nested type).
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    /// Rust type name; nested types appear in the schema as `<package>:index:<name>`.
    pub name: &'static str,
    /// What the object is.
    pub doc: &'static str,
    /// Properties in declaration order.
    pub properties: Vec<PropertySpec>,
}

impl ObjectSpec {
    /// The property with wire name `name`.
    pub fn property(&self, name: &str) -> Option<&PropertySpec> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// One declared property.
#[derive(Debug, Clone)]
pub struct PropertySpec {
    /// Wire name (camelCase).
    pub name: &'static str,
    /// What the property means and what it defaults to.
    pub doc: &'static str,
    /// The value's type.
    pub ty: PropertyType,
    /// Must be given.
    pub required: bool,
    /// A change forces replacement.
    pub replace: bool,
    /// Always treated as secret.
    pub secret: bool,
    /// How two values are compared by the default Diff.
    pub compare: Compare,
    /// Checks a known value; the error says what is expected.
    pub validate: Option<Validator>,
    /// The value the property takes when it is not given (`#[serde(default)]` or
    /// `#[serde(default = "path")]`), as serde writes it; `null` (an absent `Option`) means none.
    pub default: Option<DefaultValue>,
}

/// Checks one known property value; `Err` says what is expected.
pub type Validator = fn(&Json) -> Result<(), String>;

/// Makes a property's default value, as JSON.
pub type DefaultValue = fn() -> Json;

impl PropertySpec {
    /// The value this property takes when it is absent, if it has one (never `null`).
    pub fn default_value(&self) -> Option<Json> {
        self.default.map(|make| make()).filter(|value| !value.is_null())
    }
}

/// `value` as serde writes it; what the derive's default functions return.
pub fn default_json<T: Serialize>(value: &T) -> Json {
    // Declared property types (structs, maps with string keys, primitives) always serialize.
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// How the default Diff decides whether a property changed.
#[derive(Debug, Clone, Copy)]
pub enum Compare {
    /// Equal JSON values.
    Exact,
    /// Arrays equal as sets: order and repeats never cause a diff.
    Set,
    /// A property-specific equivalence (policy documents, for instance).
    Equivalent(fn(&Json, &Json) -> bool),
}

impl Compare {
    /// Whether `old` and `new` mean the same.
    pub fn same(&self, old: &Json, new: &Json) -> bool {
        match self {
            Compare::Exact => old == new,
            Compare::Set => match (old, new) {
                (Json::Array(a), Json::Array(b)) => a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x)),
                _ => old == new,
            },
            Compare::Equivalent(same) => same(old, new),
        }
    }
}

/// A Pulumi schema type.
#[derive(Debug, Clone)]
pub enum PropertyType {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
    /// `array` of the element type.
    Array(Box<PropertyType>),
    /// `object` with string keys and values of the given type.
    Map(Box<PropertyType>),
    /// A declared nested object type.
    Object(ObjectRef),
    /// Any JSON value (policy documents).
    Any,
}

/// A reference to a nested object type.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef {
    /// The type's name.
    pub name: &'static str,
    /// Its declaration.
    pub spec: fn() -> ObjectSpec,
}

impl PropertyType {
    /// A short description for error messages, e.g. "a list of strings".
    pub fn describe(&self) -> String {
        match self {
            PropertyType::String => "a string".into(),
            PropertyType::Integer => "an integer".into(),
            PropertyType::Number => "a number".into(),
            PropertyType::Boolean => "a boolean".into(),
            PropertyType::Array(item) => format!("a list of {}", plural(&item.describe())),
            PropertyType::Map(item) => format!("a map of string to {}", plural(&item.describe())),
            PropertyType::Object(object) => format!("an object ({})", object.name),
            PropertyType::Any => "any value".into(),
        }
    }
}

fn plural(described: &str) -> String {
    let bare = described
        .strip_prefix("an ")
        .or_else(|| described.strip_prefix("a "))
        .unwrap_or(described);
    match bare.split_once(' ') {
        Some((head, tail)) => format!("{head}s {tail}"),
        None => format!("{bare}s"),
    }
}

macro_rules! schema_type {
    ($variant:ident: $($ty:ty),+) => {
        $(impl SchemaType for $ty {
            fn property_type() -> PropertyType { PropertyType::$variant }
        })+
    };
}
schema_type!(String: String);
schema_type!(Integer: i32, i64, u16, u32, u64);
schema_type!(Number: f64);
schema_type!(Boolean: bool);
schema_type!(Any: Json);

impl<T: SchemaType> SchemaType for Option<T> {
    const OPTIONAL: bool = true;
    fn property_type() -> PropertyType {
        T::property_type()
    }
}

impl<T: SchemaType> SchemaType for Vec<T> {
    fn property_type() -> PropertyType {
        PropertyType::Array(Box::new(T::property_type()))
    }
}

impl<T: SchemaType> SchemaType for BTreeMap<String, T> {
    fn property_type() -> PropertyType {
        PropertyType::Map(Box::new(T::property_type()))
    }
}

impl<T: SchemaType, S> SchemaType for HashMap<String, T, S> {
    fn property_type() -> PropertyType {
        PropertyType::Map(Box::new(T::property_type()))
    }
}

/// How a resource or function appears in the package schema.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    /// Name within the package, e.g. `Vpc`.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// Its inputs.
    pub inputs: ObjectSpec,
    /// Its outputs (which include the inputs).
    pub outputs: ObjectSpec,
}

/// A package: its identity, provider configuration, resources and functions.
#[derive(Debug, Clone)]
pub struct PackageSpec {
    /// Package name, e.g. `palisade-network`.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Version (semver).
    pub version: &'static str,
    /// What the package offers.
    pub description: &'static str,
    /// Provider configuration.
    pub config: ObjectSpec,
    /// Resources.
    pub resources: Vec<ResourceSchema>,
    /// Functions (Invoke).
    pub functions: Vec<ResourceSchema>,
}

impl PackageSpec {
    /// The type token of a member of this package, e.g. `palisade-network:index:Vpc`.
    pub fn token(&self, name: &str) -> String {
        format!("{}:index:{}", self.name, name)
    }

    /// Renders the Pulumi package schema.
    pub fn to_schema(&self) -> Json {
        let mut types = Map::new();
        let render = |spec: &ObjectSpec, types: &mut Map<String, Json>| self.object_json(spec, types);

        let mut resources = Map::new();
        for resource in &self.resources {
            let (input_properties, required_inputs) = render(&resource.inputs, &mut types);
            let (properties, required) = render(&resource.outputs, &mut types);
            resources.insert(
                self.token(resource.name),
                json!({
                    "description": resource.doc,
                    "properties": properties,
                    "required": required,
                    "inputProperties": input_properties,
                    "requiredInputs": required_inputs,
                }),
            );
        }

        let mut functions = Map::new();
        for function in &self.functions {
            let (inputs, required_inputs) = render(&function.inputs, &mut types);
            let (outputs, required_outputs) = render(&function.outputs, &mut types);
            functions.insert(
                self.token(function.name),
                json!({
                    "description": function.doc,
                    "inputs": {"properties": inputs, "required": required_inputs},
                    "outputs": {"properties": outputs, "required": required_outputs},
                }),
            );
        }

        let (config_properties, _) = render(&self.config, &mut types);
        json!({
            "name": self.name,
            "displayName": self.display_name,
            "version": self.version,
            "description": self.description,
            "keywords": ["pulumi", "aws", "sagemaker", "palisade", "category/cloud"],
            "license": "Apache-2.0",
            "publisher": "Palisade",
            "config": {"variables": config_properties},
            "provider": {
                "description": format!("The {} provider, configured for one AWS account.", self.name),
                "inputProperties": config_properties,
            },
            "types": types,
            "resources": resources,
            "functions": functions,
        })
    }

    /// The `properties` map and `required` list of an object.
    fn object_json(&self, spec: &ObjectSpec, types: &mut Map<String, Json>) -> (Json, Json) {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for property in &spec.properties {
            properties.insert(property.name.into(), self.property_json(property, types));
            if property.required {
                required.push(Json::from(property.name));
            }
        }
        (Json::Object(properties), Json::Array(required))
    }

    fn property_json(&self, property: &PropertySpec, types: &mut Map<String, Json>) -> Json {
        let mut out = self.type_json(&property.ty, types);
        let fields = out.as_object_mut().expect("type_json renders an object");
        if !property.doc.is_empty() {
            fields.insert("description".into(), property.doc.into());
        }
        if property.secret {
            fields.insert("secret".into(), true.into());
        }
        if property.replace {
            fields.insert("willReplaceOnChanges".into(), true.into());
        }
        // The metaschema admits defaults of primitive type only.
        if let Some(default) = property
            .default_value()
            .filter(|d| d.is_boolean() || d.is_number() || d.is_string())
        {
            fields.insert("default".into(), default);
        }
        out
    }

    fn type_json(&self, ty: &PropertyType, types: &mut Map<String, Json>) -> Json {
        match ty {
            PropertyType::String => json!({"type": "string"}),
            PropertyType::Integer => json!({"type": "integer"}),
            PropertyType::Number => json!({"type": "number"}),
            PropertyType::Boolean => json!({"type": "boolean"}),
            PropertyType::Any => json!({"$ref": "pulumi.json#/Any"}),
            PropertyType::Array(item) => {
                json!({"type": "array", "items": self.type_json(item, types)})
            }
            PropertyType::Map(item) => {
                json!({"type": "object", "additionalProperties": self.type_json(item, types)})
            }
            PropertyType::Object(object) => {
                let token = self.token(object.name);
                if !types.contains_key(&token) {
                    // Insert a placeholder first so that a recursive type terminates.
                    types.insert(token.clone(), Json::Null);
                    let spec = (object.spec)();
                    let (properties, required) = self.object_json(&spec, types);
                    types.insert(
                        token.clone(),
                        json!({
                            "type": "object",
                            "description": spec.doc,
                            "properties": properties,
                            "required": required,
                        }),
                    );
                }
                json!({"$ref": format!("#/types/{token}")})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_nested_types_for_error_messages() {
        assert_eq!(<Vec<String>>::property_type().describe(), "a list of strings");
        assert_eq!(
            <BTreeMap<String, String>>::property_type().describe(),
            "a map of string to strings"
        );
        assert_eq!(<Option<bool>>::property_type().describe(), "a boolean");
    }

    #[test]
    fn set_comparison_ignores_order_and_repeats() {
        let a = json!(["a", "b", "b"]);
        let b = json!(["b", "a"]);
        assert!(Compare::Set.same(&a, &b));
        assert!(!Compare::Exact.same(&a, &b));
        assert!(!Compare::Set.same(&json!(["a"]), &json!(["a", "c"])));
    }
}
