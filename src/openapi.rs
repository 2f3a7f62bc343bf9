//! The OpenAPI document: each area's annotated handlers (`<area>::http::Api`), merged,
//! then finished here with what holds across the whole API and would otherwise be
//! repeated on every handler: the security schemes and which operations need which,
//! the shared meaning of parameter names (`{kind}`, `{locale}`, `channel`...), the
//! problem+json media type of every error, and the statuses the cross-cutting layers
//! answer (body limits, rate limits, the database gate). `/openapi.json` serves the
//! result, `Allow` on a 405 is read from it, and schemathesis checks the running
//! server against it in CI.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

/// The finished document.
pub fn document() -> Value {
    let mut document = crate::ops::ApiDoc::openapi();
    document.merge(crate::delivery::http::Api::openapi());
    document.merge(crate::engagement::http::Api::openapi());
    document.merge(crate::identity::http::Api::openapi());
    document.merge(crate::governance::http::Api::openapi());
    document.merge(crate::allocation::http::Api::openapi());
    document.merge(crate::authoring::http::Api::openapi());
    let mut value = serde_json::to_value(&document).expect("an OpenAPI document serialises");
    finish(&mut value);
    value
}

/// A schema that is any one of these named component schemas (an answer with several
/// shapes, for a `PartialSchema` implementation).
pub fn any_of(names: &[&str]) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut any = utoipa::openapi::schema::AnyOfBuilder::new();
    for name in names {
        any = any.item(utoipa::openapi::Ref::from_schema_name(*name));
    }
    any.into()
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn finish(document: &mut Value) {
    document["components"]["securitySchemes"] = security_schemes();
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            declare_path_parameters(path, operation);
            describe_parameters(path, operation);
            if let Some(mut security) = security_of(method, path) {
                name_staff_roles(method, path, &mut security);
                operation.insert("security".into(), security);
            }
            add_common_responses(method, path, operation);
            problems_as_problem_json(operation);
        }
    }
}

fn security_schemes() -> Value {
    json!({
        "staff_token": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A staff JWT from the configured staff issuer (`staff_tokens`) with `roles` and `scope`. Each operation's requirement lists the roles it accepts (any one will do); `scope:identify` means a token whose `scope` holds `identify`, whatever its roles."
        },
        "identity_token": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "The site's identity JWT (`identity_tokens`): `sub` is a customer id, `iat` and `exp` are required."
        },
        "server_key": {
            "type": "apiKey", "in": "header", "name": "X-Api-Key",
            "description": "A server key (`server_api_keys`) for back ends: email and SMS senders, the site's server."
        },
        "metrics_token": {
            "type": "http", "scheme": "bearer",
            "description": "`metrics_token`; or reach `/metrics` on the `metrics_bind` listener."
        }
    })
}

/// Who may call an operation: staff (by role), back ends (server key), people (identity
/// token), or anyone (`{}`). A staff entry lists role names (OpenAPI 3.1 allows roles
/// for non-OAuth schemes); `scope:identify` stands for a token with that scope, whatever
/// its roles.
fn security_of(method: &str, path: &str) -> Option<Value> {
    let staff = json!({"staff_token": []});
    let server = json!({"server_key": []});
    let identity = json!({"identity_token": []});
    let anyone = json!({});
    let staff_only = ["/v1/admin/", "/v1/governance/", "/v1/reports/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        // Erasure is for privacy staff alone, never a server key.
        || (path.starts_with("/v1/people/") && method == "delete");
    if staff_only {
        Some(json!([staff]))
    } else if path.starts_with("/v1/people/") || path == "/v1/identify" {
        Some(json!([server, staff]))
    } else if path.starts_with("/v1/content") || path == "/v1/context" || path == "/v1/events" {
        Some(json!([anyone, identity, server]))
    } else if path == "/metrics" {
        Some(json!([{"metrics_token": []}]))
    } else {
        None
    }
}

/// Every staff route's accepted roles, from the areas' route tables.
fn staff_roles(method: &str, path: &str) -> Option<&'static [crate::auth::Role]> {
    [
        crate::authoring::http::STAFF_ROLES,
        crate::governance::http::STAFF_ROLES,
        crate::allocation::http::STAFF_ROLES,
        crate::identity::http::STAFF_ROLES,
        crate::delivery::purge_log::STAFF_ROLES,
    ]
    .into_iter()
    .flatten()
    .find(|(m, p, _)| *m == method && *p == path)
    .map(|(_, _, roles)| *roles)
}

/// OpenAPI 3.1 lets a non-OAuth requirement list role names: the staff token's entry
/// names the roles that route accepts (any one of them will do).
fn name_staff_roles(method: &str, path: &str, security: &mut Value) {
    let Some(roles) = staff_roles(method, path) else {
        if path == "/v1/identify" {
            for requirement in security.as_array_mut().into_iter().flatten() {
                if let Some(names) = requirement.get_mut("staff_token") {
                    *names = json!(["scope:identify"]);
                }
            }
        }
        return;
    };
    for requirement in security.as_array_mut().into_iter().flatten() {
        if let Some(names) = requirement.get_mut("staff_token") {
            let mut listed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            if path.starts_with("/v1/people/") && method == "get" {
                listed.push("scope:identify");
            }
            *names = json!(listed);
        }
    }
}

/// What each parameter name means wherever it appears, as a schema.
fn parameter_schema(path: &str, name: &str) -> Option<Value> {
    const ID: &str = "^[a-z0-9_.-]{1,64}$";
    Some(match name {
        "placement" => json!({"type": "string", "pattern": ID}),
        "id" if path.starts_with("/v1/admin/") => json!({"type": "string", "pattern": ID}),
        "id" if path.starts_with("/v1/governance/policies/") => {
            json!({"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"})
        }
        "id" if path.starts_with("/v1/people/") => {
            json!({"type": "string", "minLength": 1, "maxLength": 128})
        }
        "kind" => json!({"type": "string", "enum": ["placements", "variants"]}),
        "action" => {
            json!({"type": "string", "enum": ["submit", "approve", "reject", "publish", "archive"]})
        }
        "verb" => json!({"type": "string", "enum": ["review", "approve", "reject"]}),
        "locale" => {
            json!({"type": "string", "pattern": "^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2})?$"})
        }
        "file" => json!({"type": "string", "pattern": "^[a-z0-9_.-]{1,64}\\.ftl$"}),
        "token" => json!({"type": "string", "minLength": 1, "maxLength": 4096}),
        "channel" => json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$"}),
        "device" => {
            json!({"type": "string", "enum": ["desktop", "mobile", "tablet", "tv", "wearable", "voice", "unknown"]})
        }
        "country" => json!({"type": "string", "pattern": "^[A-Z]{2}$"}),
        "anonymous_id" | "X-Anonymous-Id" => {
            json!({"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"})
        }
        "cohort" => json!({"type": "string", "minLength": 1, "maxLength": 4096}),
        "placements" => {
            json!({"type": "string", "pattern": "^[a-z0-9_.-]{1,64}(,[a-z0-9_.-]{1,64}){0,19}$"})
        }
        "from" | "to" if path == "/v1/reports/engagement" => {
            json!({"type": "string", "format": "date", "pattern": "^(2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"})
        }
        "group_by" => {
            let one = crate::governance::report::GROUPS.join("|");
            json!({"type": "string", "pattern": format!("^({one})(,({one}))*$")})
        }
        "format" => json!({"type": "string", "enum": ["json", "csv"]}),
        "status" if path == "/v1/governance/decisions" => {
            json!({"type": "string", "enum": crate::governance::approval::DecisionStatus::ALL.map(|s| s.as_str())})
        }
        "If-Match" => json!({"type": "string", "pattern": "^(W/)?\"[1-9][0-9]{0,8}\"$"}),
        _ => return None,
    })
}

/// Path segments the handler reads without declaring them.
fn declare_path_parameters(path: &str, operation: &mut Map<String, Value>) {
    let names: Vec<&str> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{'))
        .filter_map(|segment| segment.split('}').next())
        .collect();
    let parameters = operation
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("parameters are a list");
    for name in names {
        let declared = parameters
            .iter()
            .any(|p| p["in"] == "path" && p["name"] == name);
        if !declared {
            parameters.push(
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
            );
        }
    }
    if parameters.is_empty() {
        operation.remove("parameters");
    }
}

/// Gives every parameter the schema its name means (see [`parameter_schema`]), keeping
/// a declared integer as it is.
fn describe_parameters(path: &str, operation: &mut Map<String, Value>) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default().to_string();
        let declared_string = parameter["schema"]["type"] == "string"
            || parameter["schema"]["type"] == json!(["string", "null"]);
        if let (true, Some(schema)) = (declared_string, parameter_schema(path, &name)) {
            parameter["schema"] = schema;
        }
    }
}

/// The statuses every operation of a kind can answer, whatever its handler does.
fn add_common_responses(method: &str, path: &str, operation: &mut Map<String, Value>) {
    let has_body = operation.contains_key("requestBody");
    // A path parameter can be refused only where its schema constrains it.
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p["in"] != "path"
                    || p["schema"].get("pattern").is_some()
                    || p["schema"].get("enum").is_some()
                    || p["schema"]["type"] == "integer"
            })
        });
    let security = security_of(method, path);
    let needs_credentials = security
        .as_ref()
        .is_some_and(|s| !s.as_array().is_some_and(|a| a.contains(&json!({}))));
    let operations_path = matches!(path, "/healthz" | "/readyz" | "/metrics" | "/v1/channels");
    let rate_limited = path == "/v1/events"
        || path == "/v1/identify"
        || path == "/v1/context"
        || path.starts_with("/v1/t/")
        || path.starts_with("/v1/o/");
    let mut add = |status: &str, description: &str| {
        let responses = operation
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("responses are a map");
        responses.entry(status).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
            })
        });
    };
    if has_body || has_parameters {
        add(
            "400",
            "A parameter or the body is invalid; `field` names it",
        );
    }
    if path.contains('{') {
        add("404", "Nothing answers to these path parameters");
    }
    if security.is_some() {
        add("401", "A missing, malformed or unverifiable token or key");
    }
    if needs_credentials {
        add("403", "Credentials without a role (or scope) this needs");
    }
    if has_body {
        add("408", "The body did not arrive in time");
        add("413", "The body is larger than this route reads");
    }
    if rate_limited {
        add(
            "429",
            "Too many requests from this client network or key; see Retry-After",
        );
    }
    if !operations_path {
        add(
            "503",
            "The database (or, for staff routes, a dependency) is unavailable; see Retry-After",
        );
    }
}

/// Errors are `application/problem+json` (RFC 9457), wherever a handler said `Problem`.
fn problems_as_problem_json(operation: &mut Map<String, Value>) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_problem = |media: &Value| {
            media["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/Problem"))
        };
        if content.get("application/json").is_some_and(is_problem) {
            let media = content.remove("application/json").expect("present");
            content.insert("application/problem+json".into(), media);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(document: &Value) -> Vec<(String, String, Value)> {
        let mut found = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    found.push((path.clone(), method.to_string(), operation.clone()));
                }
            }
        }
        found
    }

    #[test]
    fn every_path_parameter_is_declared_and_every_error_is_problem_json() {
        let document = document();
        let all = operations(&document);
        assert!(all.len() >= 40, "{}", all.len());
        for (path, method, operation) in all {
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_start_matches('{').split('}').next().unwrap();
                assert!(
                    operation["parameters"].as_array().is_some_and(|ps| ps
                        .iter()
                        .any(|p| p["in"] == "path" && p["name"] == name)),
                    "{method} {path}: {name}"
                );
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let content = response["content"].as_object();
                // `/readyz` answers its 503 with the readiness body, which is the point.
                if (status.starts_with('4') || status.starts_with('5')) && path != "/readyz" {
                    let media: Vec<&String> =
                        content.map(|c| c.keys().collect()).unwrap_or_default();
                    assert_eq!(
                        media,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    #[test]
    fn staff_routes_need_a_staff_token_and_public_content_needs_nothing() {
        let document = document();
        for (path, method, operation) in operations(&document) {
            let security = operation["security"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if path.starts_with("/v1/admin/")
                || path.starts_with("/v1/governance/")
                || path.starts_with("/v1/reports/")
            {
                assert_eq!(security.len(), 1, "{method} {path}");
                let roles = security[0]["staff_token"].as_array().expect("staff token");
                assert!(
                    !roles.is_empty(),
                    "{method} {path}: no roles in the route tables"
                );
                assert!(operation["responses"]["403"].is_object(), "{method} {path}");
            }
            if path.starts_with("/v1/content") {
                assert!(security.contains(&json!({})), "{method} {path}");
            }
        }
        for scheme in [
            "staff_token",
            "identity_token",
            "server_key",
            "metrics_token",
        ] {
            assert!(
                document["components"]["securitySchemes"][scheme].is_object(),
                "{scheme}"
            );
        }
    }
}
