//! `#[derive(Properties)]`: the single declaration of a resource's properties.
//!
//! A struct of inputs or outputs is declared once, with serde attributes for the wire and
//! `#[property(...)]` beside each field for what Pulumi needs to know about it. The derive turns that
//! into a `palisade_provider_kit::schema::ObjectSpec`, from which the kit builds the package schema,
//! Check's validation and the default Diff. Nothing else lists a resource's properties.
//!
//! Field options (`#[property(...)]`):
//! - `replace`: a change forces replacement of the resource;
//! - `secret`: the value is always a secret;
//! - `set`: an array compared as a set, so order never causes a diff;
//! - `equivalent = path`: `fn(&serde_json::Value, &serde_json::Value) -> bool`, true when two values
//!   mean the same thing (policy documents, for example);
//! - `validate = path`: `fn(&serde_json::Value) -> Result<(), String>`, the reason says what is expected;
//! - `name = "wireName"`: overrides the camelCase wire name derived from the field name.
//!
//! A field is required unless its type is `Option<_>` or it has `#[serde(default)]`. A field's serde
//! default (`#[serde(default)]` or `#[serde(default = "path")]`) is part of its declaration, so that
//! Check fills it in property by property even while other inputs are unknown; a struct-level
//! `#[serde(default)]` is refused for that reason.
//! `#[serde(flatten)]` fields merge the inner struct's properties (outputs that include the inputs).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Expr, Fields, Lit, Meta, Path};

mod typed;

/// Derives `Properties` and `SchemaType` for a struct with named fields.
#[proc_macro_derive(Properties, attributes(property, properties))]
pub fn derive_properties(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

#[derive(Default)]
struct FieldOptions {
    replace: bool,
    secret: bool,
    set: bool,
    equivalent: Option<Path>,
    validate: Option<Path>,
    name: Option<String>,
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let ident = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            ident,
            "Properties can only be derived for structs",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(ident, "Properties needs named fields"));
    };
    if serde_flag(&input.attrs, "default")? {
        return Err(syn::Error::new_spanned(
            ident,
            "Properties needs each default beside its field (`#[serde(default)]` on the field), so that Check can \
             fill it in while other inputs are unknown",
        ));
    }
    let type_name = ident.to_string();
    let doc = doc_of(&input.attrs);
    let kit = quote!(::palisade_provider_kit::schema);

    let mut pushes = Vec::new();
    for field in &fields.named {
        let field_ident = field.ident.as_ref().expect("named field");
        let ty = &field.ty;
        if serde_flag(&field.attrs, "flatten")? {
            pushes.push(quote! {
                properties.extend(<#ty as #kit::Properties>::object_spec().properties);
            });
            continue;
        }
        let options = field_options(&field.attrs)?;
        let name = match options.name.clone().or(serde_rename(&field.attrs)?) {
            Some(name) => name,
            None => camel_case(&field_ident.to_string()),
        };
        let field_doc = doc_of(&field.attrs);
        let serde_default = serde_default(&field.attrs)?;
        let has_default = serde_default.is_some();
        let default = match &serde_default {
            None => quote!(None),
            Some(made_by) => {
                let value = match made_by {
                    Some(path) => quote!(#path()),
                    None => quote!(<#ty as ::std::default::Default>::default()),
                };
                // A value serde would not write is no default at all.
                let skipped = match serde_path(&field.attrs, "skip_serializing_if")? {
                    Some(predicate) => quote! {
                        if #predicate(&value) {
                            return #kit::JsonValue::Null;
                        }
                    },
                    None => quote!(),
                };
                quote!({
                    fn default_value() -> #kit::JsonValue {
                        let value: #ty = #value;
                        #skipped
                        #kit::default_json(&value)
                    }
                    Some(default_value as #kit::DefaultValue)
                })
            }
        };
        let replace = options.replace;
        let secret = options.secret;
        let compare = match (&options.equivalent, options.set) {
            (Some(path), _) => quote!(#kit::Compare::Equivalent(#path)),
            (None, true) => quote!(#kit::Compare::Set),
            (None, false) => quote!(#kit::Compare::Exact),
        };
        let validate = match &options.validate {
            Some(path) => quote!(Some(#path)),
            None => quote!(None),
        };
        pushes.push(quote! {
            properties.push(#kit::PropertySpec {
                name: #name,
                doc: #field_doc,
                ty: <#ty as #kit::SchemaType>::property_type(),
                required: !#has_default && !<#ty as #kit::SchemaType>::OPTIONAL,
                replace: #replace,
                secret: #secret,
                compare: #compare,
                validate: #validate,
                default: #default,
            });
        });
    }

    // Names, constructor, setters and typed references (typed.rs).
    let typed = typed::expand(input, fields)?;

    Ok(quote! {
        #typed

        impl #kit::Properties for #ident {
            fn object_spec() -> #kit::ObjectSpec {
                let mut properties = ::std::vec::Vec::new();
                #(#pushes)*
                #kit::ObjectSpec { name: #type_name, doc: #doc, properties }
            }
        }

        impl #kit::SchemaType for #ident {
            fn property_type() -> #kit::PropertyType {
                #kit::PropertyType::Object(#kit::ObjectRef {
                    name: #type_name,
                    spec: <#ident as #kit::Properties>::object_spec,
                })
            }
        }
    })
}

fn field_options(attrs: &[Attribute]) -> syn::Result<FieldOptions> {
    let mut options = FieldOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("property")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("replace") {
                options.replace = true;
            } else if meta.path.is_ident("secret") {
                options.secret = true;
            } else if meta.path.is_ident("set") {
                options.set = true;
            } else if meta.path.is_ident("equivalent") {
                options.equivalent = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("validate") {
                options.validate = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("name") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                options.name = Some(lit.value());
            } else {
                return Err(
                    meta.error("unknown property option; expected replace, secret, set, equivalent, validate or name")
                );
            }
            Ok(())
        })?;
    }
    Ok(options)
}

/// True when `#[serde(<flag>)]` or `#[serde(<flag> = ...)]` is present.
fn serde_flag(attrs: &[Attribute], flag: &str) -> syn::Result<bool> {
    let mut found = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(flag) {
                found = true;
            }
            // Consume any value so that other serde options parse.
            if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// `Some(None)` for `#[serde(default)]`, `Some(Some(path))` for `#[serde(default = "path")]`.
fn serde_default(attrs: &[Attribute]) -> syn::Result<Option<Option<syn::ExprPath>>> {
    let mut default = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                default = Some(if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    Some(lit.parse()?)
                } else {
                    None
                });
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(default)
}

/// The function named by `#[serde(<option> = "path")]`, if present.
fn serde_path(attrs: &[Attribute], option: &str) -> syn::Result<Option<syn::ExprPath>> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(option) {
                let lit: syn::LitStr = meta.value()?.parse()?;
                found = Some(lit.parse()?);
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(found)
}

fn serde_rename(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut rename = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                rename = Some(lit.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(rename)
}

fn doc_of(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(expr) => match &expr.lit {
                    Lit::Str(s) => Some(s.value().trim().to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_string()
}

fn camel_case(snake: &str) -> String {
    let snake = snake.trim_start_matches("r#");
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
