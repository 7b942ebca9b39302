//! What a program writes against a declaration, generated from it: property names, a constructor,
//! setters, defaults, and typed references to the properties once the resource is declared.
//!
//! For a struct `Foo`:
//! - `Foo::WIRE_NAME` for every property (`VpcArgs::CIDR_BLOCK == "cidrBlock"`), so code that reads
//!   properties by name (guardrails) stops compiling when a property is renamed;
//! - `Foo::new(required...)` when some property is required, taking exactly those; every other
//!   property takes its declared default (`#[serde(default...)]`) or is absent (`Option`);
//! - `impl Default for Foo` when no property is required;
//! - `Foo::with_<field>(value)` for every property (an `Option` takes the value itself);
//! - `FooRefs`: one method per property giving the reference to it (`vpc_id()`), deref to the refs
//!   of a flattened struct and finally to `ResourceRef`; `impl Referable for Foo`.

use proc_macro2::{Ident, Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::{DeriveInput, FieldsNamed, GenericArgument, PathArguments, Type};

use crate::{camel_case, doc_of, field_options, serde_default, serde_flag, serde_rename};

/// One declared field, as the generated code needs it.
struct Field<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    wire: String,
    doc: String,
    /// How the field is made when not given: `None` when it must be given.
    default: Option<Tokens>,
    /// `Some(inner)` for an `Option<inner>`.
    option_of: Option<&'a Type>,
}

/// The generated items for `input`, whose named fields are `fields`.
pub(crate) fn expand(input: &DeriveInput, fields: &FieldsNamed) -> syn::Result<Tokens> {
    let ident = &input.ident;
    let vis = &input.vis;
    let kit = quote!(::palisade_provider_kit);
    let mut flattened: Option<&Type> = None;
    let mut declared = Vec::new();
    for field in &fields.named {
        let field_ident = field.ident.as_ref().expect("named field");
        if serde_flag(&field.attrs, "flatten")? {
            if flattened.is_some() {
                return Err(syn::Error::new_spanned(
                    field_ident,
                    "Properties supports one `#[serde(flatten)]` field per struct",
                ));
            }
            flattened = Some(&field.ty);
            continue;
        }
        let options = field_options(&field.attrs)?;
        let wire = match options.name.clone().or(serde_rename(&field.attrs)?) {
            Some(name) => name,
            None => camel_case(&field_ident.to_string()),
        };
        let option_of = option_inner(&field.ty);
        let default = match serde_default(&field.attrs)? {
            Some(Some(path)) => Some(quote!(#path())),
            Some(None) => Some(quote!(::std::default::Default::default())),
            None if option_of.is_some() => Some(quote!(::std::option::Option::None)),
            None => None,
        };
        declared.push(Field {
            ident: field_ident,
            ty: &field.ty,
            wire,
            doc: doc_of(&field.attrs),
            default,
            option_of,
        });
    }

    let consts = declared.iter().map(|f| {
        let name = Ident::new(&const_name(f.ident), Span::call_site());
        let wire = &f.wire;
        let doc = format!("Wire name of `{}`: `{wire}`.", bare(f.ident));
        quote!(#[doc = #doc] #vis const #name: &'static str = #wire;)
    });

    // The constructor: the flattened struct and the required fields are its parameters.
    let flat_field = fields
        .named
        .iter()
        .find(|f| flattened.is_some_and(|ty| std::ptr::eq(ty, &f.ty)))
        .and_then(|f| f.ident.as_ref());
    let mut params = Vec::new();
    let mut inits = Vec::new();
    if let (Some(ty), Some(name)) = (flattened, flat_field) {
        params.push(quote!(#name: #ty));
        inits.push(quote!(#name));
    }
    for f in &declared {
        let name = f.ident;
        match &f.default {
            Some(default) => inits.push(quote!(#name: #default)),
            None => {
                let (param, value) = parameter(name, f.ty);
                params.push(param);
                inits.push(quote!(#name: #value));
            }
        }
    }
    let constructor = if params.is_empty() {
        quote! {
            impl ::std::default::Default for #ident {
                fn default() -> Self {
                    Self { #(#inits,)* }
                }
            }
        }
    } else {
        let doc = format!("A `{ident}` with its required properties; every other property takes its declared default.");
        quote! {
            #[allow(dead_code)]
            impl #ident {
                #[doc = #doc]
                #[allow(clippy::too_many_arguments)]
                #vis fn new(#(#params),*) -> Self {
                    Self { #(#inits,)* }
                }
            }
        }
    };

    let setters = declared.iter().map(|f| {
        let name = f.ident;
        let setter = format_ident!("with_{}", bare(name));
        let doc = format!("Sets `{}` (`{}`).", bare(name), f.wire);
        let (param, value) = parameter(name, f.option_of.unwrap_or(f.ty));
        let value = if f.option_of.is_some() {
            quote!(::std::option::Option::Some(#value))
        } else {
            value
        };
        quote! {
            #[doc = #doc]
            #[must_use]
            #vis fn #setter(mut self, #param) -> Self {
                self.#name = #value;
                self
            }
        }
    });

    // References.
    let refs = format_ident!("{}Refs", ident);
    let inner = match flattened {
        Some(ty) => quote!(<#ty as #kit::refs::Referable>::Refs),
        None => quote!(#kit::refs::ResourceRef),
    };
    let accessors = declared.iter().map(|f| {
        let name = f.ident;
        let wire = &f.wire;
        let first_line = f.doc.lines().next().unwrap_or_default();
        let doc = format!("The reference to `{wire}`, for another resource's input. {first_line}");
        quote! {
            #[doc = #doc]
            #vis fn #name(&self) -> ::std::string::String {
                ::std::convert::AsRef::<#kit::refs::ResourceRef>::as_ref(self).reference(#wire)
            }
        }
    });
    let refs_doc = format!(
        "References to the properties of a declared [`{ident}`], one method each; what `Stack::resource` \
         gives for a resource whose outputs `{ident}` declares."
    );

    Ok(quote! {
        #[allow(dead_code)]
        impl #ident {
            #(#consts)*
        }

        #constructor

        #[allow(dead_code)]
        impl #ident {
            #(#setters)*
        }

        #[doc = #refs_doc]
        #[derive(Debug, Clone)]
        #[allow(unreachable_pub, dead_code)]
        #vis struct #refs {
            inner: #inner,
        }

        impl ::std::convert::From<#kit::refs::ResourceRef> for #refs {
            fn from(resource: #kit::refs::ResourceRef) -> Self {
                Self { inner: ::std::convert::From::from(resource) }
            }
        }

        impl ::std::convert::AsRef<#kit::refs::ResourceRef> for #refs {
            fn as_ref(&self) -> &#kit::refs::ResourceRef {
                ::std::convert::AsRef::as_ref(&self.inner)
            }
        }

        impl ::std::ops::Deref for #refs {
            type Target = #inner;
            fn deref(&self) -> &Self::Target {
                &self.inner
            }
        }

        #[allow(dead_code)]
        impl #refs {
            #(#accessors)*
        }

        impl #kit::refs::Referable for #ident {
            type Refs = #refs;
        }
    })
}

/// The parameter for a value of type `ty` named `name`, and the expression that stores it: strings
/// take anything that becomes one; other types are taken as they are, so that literals infer.
fn parameter(name: &Ident, ty: &Type) -> (Tokens, Tokens) {
    if last_segment(ty).is_some_and(|s| s.ident == "String") {
        (
            quote!(#name: impl ::std::convert::Into<::std::string::String>),
            quote!(::std::convert::Into::into(#name)),
        )
    } else {
        (quote!(#name: #ty), quote!(#name))
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// `Some(T)` for `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let segment = last_segment(ty).filter(|s| s.ident == "Option")?;
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

/// The field's name without a raw prefix (`r#type` -> `type`).
fn bare(ident: &Ident) -> String {
    ident.to_string().trim_start_matches("r#").to_string()
}

/// `cidr_block` -> `CIDR_BLOCK`.
fn const_name(ident: &Ident) -> String {
    bare(ident).to_uppercase()
}
