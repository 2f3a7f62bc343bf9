//! Every staff route, walked from the OpenAPI document: no token is a 401, a token with
//! none of the route's roles a 403, and a token with any one of them gets past the
//! roles. The document names each route's roles, so the table is the document, and
//! this test holds the server to it (a new staff route without roles fails the unit
//! test in `openapi`; one whose handler checks other roles fails here).

use serde_json::Value;

use crate::helpers::*;

/// A real value for each path parameter: a malformed path is refused before the token
/// is looked at, which would hide what this test checks.
fn fill(path: &str) -> String {
    let id = if path.starts_with("/v1/admin/variants/") {
        "home-hero-default"
    } else if path.starts_with("/v1/governance/policies/") {
        "variant-csat"
    } else if path.starts_with("/v1/governance/decisions/") {
        "1"
    } else if path.starts_with("/v1/people/") {
        "p-nobody"
    } else {
        "home.hero"
    };
    path.replace("{id}", id)
        .replace("{kind}", "placements")
        .replace("{locale}", "en")
        .replace("{file}", "app.ftl")
        .replace("{action}", "submit")
        .replace("{verb}", "review")
}

/// Workflow steps and decision verbs accept different roles per step: the document
/// names all of them, so only "none of them" is refused for certain here (each step's
/// own roles are tested with the workflow).
fn roles_depend_on_the_step(path: &str) -> bool {
    path.ends_with("/{action}") || path.ends_with("/{verb}")
}

#[tokio::test]
async fn every_staff_route_refuses_no_token_and_wrong_roles_and_admits_its_roles() {
    let app = spawn_app().await;
    let document = app.json("/openapi.json").await;
    let all_roles: Vec<&str> = tailor::auth::ROLES.to_vec();
    let mut walked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(roles) = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|r| r.get("staff_token"))
                .and_then(Value::as_array)
            else {
                continue;
            };
            // `scope:identify` is a scope, not a role (see the scheme's description).
            let roles: Vec<&str> = roles
                .iter()
                .filter_map(Value::as_str)
                .filter(|r| !r.starts_with("scope:"))
                .collect();
            walked += 1;
            if path == "/v1/identify" {
                // Staff identify with the `identify` scope, whatever their roles.
                let url = format!("{}{path}", app.address);
                let body = serde_json::json!({"identifiers": {"anonymous_id": "staff-walk"}});
                let post = |token: Option<String>| {
                    let mut request = app.client.post(&url).json(&body);
                    if let Some(token) = token {
                        request = request.bearer_auth(token);
                    }
                    request.send()
                };
                assert_eq!(post(None).await.unwrap().status(), 401);
                assert_eq!(
                    post(Some(staff_token(&["admin"], "")))
                        .await
                        .unwrap()
                        .status(),
                    403
                );
                assert_eq!(
                    post(Some(staff_token(&["analyst"], "identify")))
                        .await
                        .unwrap()
                        .status(),
                    200
                );
                continue;
            }
            assert!(!roles.is_empty(), "{method} {path} names no roles");
            let url = format!("{}{}", app.address, fill(path));
            let send = |token: Option<String>| {
                let mut request = app
                    .client
                    .request(method.to_uppercase().parse().unwrap(), &url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if method == "post" || method == "put" {
                    request = request
                        .header("Content-Type", "application/json")
                        .body("{}");
                }
                request.send()
            };
            let none = send(None).await.unwrap();
            assert_eq!(none.status(), 401, "{method} {path} without a token");

            let wrong: Vec<&str> = all_roles
                .iter()
                .copied()
                .filter(|r| !roles.contains(r))
                .collect();
            if let Some(role) = wrong.first() {
                let refused = send(Some(staff_token(&[role], ""))).await.unwrap();
                assert_eq!(refused.status(), 403, "{method} {path} as {role}");
            }
            if roles_depend_on_the_step(path) {
                continue;
            }
            for role in &roles {
                let admitted = send(Some(staff_token(&[role], ""))).await.unwrap();
                let status = admitted.status().as_u16();
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} as {role}: {status} {}",
                    admitted.text().await.unwrap_or_default()
                );
            }
        }
    }
    assert!(walked >= 30, "only {walked} staff routes in the document");
}
