//! Turning checked names into identifier tokens without panicking.

use proc_macro2::Ident;

/// The identifier `name`, raw (`r#type`) when it is a keyword. Errors for what no identifier
/// can be (front ends check names first, so this is a last line of defence).
pub fn ident(name: &str) -> Result<Ident, crate::Error> {
    if let Ok(id) = syn::parse_str::<Ident>(name) {
        return Ok(id);
    }
    syn::parse_str::<Ident>(&format!("r#{name}"))
        .map_err(|_| crate::Error::new(format!("`{name}` cannot be a Rust identifier")))
}
