//! The OpenAPI 3.1 description of the admin HTTP API (issue 12, section 2), generated from the
//! code: the info, the security schemes and the tags are declared here; the paths and their
//! schemas come from the `#[utoipa::path]` of each handler in `http.rs`, through the same
//! `http::routes()` that builds the router. `trustgate openapi` prints it, and
//! `docs/openapi.json` is that output, kept equal by `tests/openapi.rs`.
//!
//! Never opens a socket or the spool: building the document needs no state.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's base: what the handlers' annotations do not say.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "trustgate admin API",
        version = "v1",
        description = "The admin HTTP API of trustgate and the pull API for ERP batch jobs. \
            Every route but `/health` needs an API key (`trustgate apikey create`): \
            `Authorization: Bearer <client id>.<secret>`, or HTTP Basic with the client id as \
            user name and the secret as password. A key of one organisation sees only that \
            organisation's documents and messages; anything else is answered 404. \
            See docs/admin-api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("basic" = [])),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "pull", description = "The documents, and the pull API for ERP batch jobs: list the ready ones, fetch, acknowledge"),
        (name = "messages", description = "The messages of the spool and the queue operations of `trustgate spool`"),
        (name = "senders", description = "The trusted senders with their lifecycle (pending, invited, active, disabled), and invitations"),
    )
)]
pub struct ApiDoc;

/// Adds the two ways to present a key.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("<client id>.<secret>")
                    .description(Some(
                        "The whole key as `trustgate apikey create` printed it",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The client id as user name and the secret as password (an ERP \
                         connector's \"client key\" and \"client secret\")",
                    ))
                    .build(),
            ),
        );
    }
}

/// The bytes of a file (a PDF, a message), not JSON.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

/// The OpenAPI document of the admin API, as served by [`super::http::router`].
pub fn document() -> utoipa::openapi::OpenApi {
    super::http::routes().into_openapi()
}

/// The document as pretty JSON with a final newline: the content of `docs/openapi.json`.
///
/// # Errors
/// Serialisation fails (it does not for this document).
pub fn to_json() -> Result<String, serde_json::Error> {
    let mut text = document().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
