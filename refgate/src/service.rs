//! The upstream service behind the gateway: auth routes, orders, an echo route, and
//! `/__inspect` (on the service listener only) showing what is left behind.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use crate::{Fault, Job, Order, Shared, User, json_response, token};

pub(crate) async fn handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let caller = header(req.headers(), "x-smoke-user");
    let request_id = header(req.headers(), "x-request-id");
    let raw = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let body: J = serde_json::from_slice(&raw).unwrap_or(J::Null);

    if path == "/__inspect" {
        let users: Vec<String> = shared.users.lock().unwrap().keys().cloned().collect();
        let mut records: Vec<J> = shared.orders.lock().unwrap().values().map(|o| serde_json::to_value(o).unwrap_or_default()).collect();
        records.extend(shared.jobs.lock().unwrap().values().map(|j| json!({"id": j.id, "kind": "job", "owner": j.owner})));
        let logins = shared.logins.load(std::sync::atomic::Ordering::SeqCst);
        return json_response(StatusCode::OK, json!({"users": users, "records": records, "logins": logins}));
    }
    if path.starts_with("/api/") && !shared.opts.latency.is_zero() {
        tokio::time::sleep(shared.opts.latency).await;
    }
    match (method.clone(), path.as_str()) {
        (Method::POST, "/api/auth/V1/auth/create") => {
            let (Some(email), Some(password)) = (body.get("email").and_then(J::as_str), body.get("password").and_then(J::as_str)) else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "email and password are required"}));
            };
            let mut users = shared.users.lock().unwrap();
            if users.contains_key(email) {
                return json_response(StatusCode::CONFLICT, json!({"error": "user exists"}));
            }
            let id = uuid::Uuid::new_v4().to_string();
            users.insert(email.to_owned(), User { id: id.clone(), password_hash: token::hash(password) });
            json_response(StatusCode::CREATED, json!({"user": {"id": id, "email": email}}))
        }
        (Method::POST, "/api/auth/V1/auth/login") => {
            let (Some(email), Some(password)) = (body.get("email").and_then(J::as_str), body.get("password").and_then(J::as_str)) else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "email and password are required"}));
            };
            let user = shared.users.lock().unwrap().get(email).cloned();
            match user {
                Some(u) if u.password_hash == token::hash(password) => {
                    shared.logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let ttl = if shared.has(Fault::ShortTtl) { 2 } else { shared.opts.token_ttl.as_secs() as i64 };
                    let now = shared.now();
                    let claims = json!({"sub": email, "uid": u.id, "iat": now, "nbf": now, "exp": now + ttl, "iss": "smokegate-refgate"});
                    json_response(
                        StatusCode::OK,
                        json!({"token": token::sign(&shared.key, &claims), "expiresIn": ttl, "user": {"id": u.id}}),
                    )
                }
                _ => json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid credentials"})),
            }
        }
        // The admin API: a client of the identity provider (`client:*`) deletes any user by id;
        // a user may not (as with Keycloak's or Auth0's management APIs).
        (Method::DELETE, p) if p.starts_with("/api/auth/V1/auth/users/") => {
            let id = &p["/api/auth/V1/auth/users/".len()..];
            if !caller.as_deref().is_some_and(|c| c.starts_with("client:")) {
                return json_response(StatusCode::FORBIDDEN, json!({"error": "only an admin client may delete users"}));
            }
            let mut users = shared.users.lock().unwrap();
            let email = users.iter().find(|(_, u)| u.id == id).map(|(e, _)| e.clone());
            match email.and_then(|e| users.remove(&e)) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such user"})),
            }
        }
        (Method::DELETE, "/api/auth/V1/auth/user") => {
            let Some(email) = caller else { return json_response(StatusCode::UNAUTHORIZED, json!({"error": "no caller"})) };
            if shared.has(Fault::NoDelete) {
                return json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "user store unavailable"}));
            }
            match shared.users.lock().unwrap().remove(&email) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such user"})),
            }
        }
        (_, p) if p == "/api/orders" || p.starts_with("/api/orders/") => orders(&shared, method, p, caller, body).await,
        (_, p) if p == "/api/jobs" || p.starts_with("/api/jobs/") => jobs(&shared, method, p, caller, body),
        // Behind the API-key route of the edge: what the key unlocked.
        (Method::GET, "/api/keyed/whoami") => json_response(StatusCode::OK, json!({"caller": caller})),
        // The decoded form, as the service received it.
        (Method::POST, "/api/echo/forms") => {
            let form: serde_json::Map<String, J> =
                form_urlencoded::parse(&raw).map(|(k, v)| (k.into_owned(), J::String(v.into_owned()))).collect();
            json_response(StatusCode::OK, json!({"form": form, "headers": {"X-Request-Id": request_id}}))
        }
        // What the upstream received: proves the gateway forwards the reqId (and the caller).
        (Method::GET, "/api/echo") => json_response(
            StatusCode::OK,
            json!({"method": method.as_str(), "path": path, "headers": {"X-Request-Id": request_id}, "caller": caller}),
        ),
        _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no route"})),
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Export jobs: `POST /api/jobs` starts one (`{"fail": true}` makes it end `failed`), which
/// reads `running` until `job_delay` has passed, then `done` (or `failed`).
fn jobs(shared: &Shared, method: Method, path: &str, caller: Option<String>, body: J) -> Response {
    let Some(owner) = caller else { return json_response(StatusCode::UNAUTHORIZED, json!({"error": "no caller identity"})) };
    let id = path.strip_prefix("/api/jobs/").filter(|s| !s.is_empty());
    let mut jobs = shared.jobs.lock().unwrap();
    match (method, id) {
        (Method::POST, None) => {
            let job = Job {
                id: format!("job-{}", uuid::Uuid::new_v4().simple()),
                owner,
                ready_at: std::time::Instant::now() + shared.opts.job_delay,
                fail: body.get("fail").and_then(J::as_bool).unwrap_or(false),
            };
            let view = job.view();
            jobs.insert(job.id.clone(), job);
            json_response(StatusCode::ACCEPTED, view)
        }
        (Method::GET, Some(id)) => match jobs.get(id).filter(|j| j.owner == owner) {
            Some(j) => json_response(StatusCode::OK, j.view()),
            None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such job"})),
        },
        (Method::DELETE, Some(id)) => match jobs.get(id) {
            Some(j) if j.owner == owner => {
                jobs.remove(id);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no such job"})),
        },
        _ => json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "method not allowed"})),
    }
}

async fn orders(shared: &Shared, method: Method, path: &str, caller: Option<String>, body: J) -> Response {
    // The service trusts the gateway's header; called directly, it has no caller.
    let Some(owner) = caller else { return json_response(StatusCode::UNAUTHORIZED, json!({"error": "no caller identity"})) };
    if shared.has(Fault::ServerError) {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "orders database unavailable"}));
    }
    if method == Method::GET && shared.has(Fault::Slow) {
        tokio::time::sleep(shared.opts.slow_delay).await;
    }
    let id = path.strip_prefix("/api/orders/").filter(|s| !s.is_empty());
    match (method, id) {
        (Method::POST, None) => {
            let Some(sku) = body.get("sku").cloned() else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "sku is required"}));
            };
            let order = Order {
                id: format!("ord-{}", uuid::Uuid::new_v4().simple()),
                sku,
                qty: body.get("qty").cloned().unwrap_or(json!(1)),
                owner,
                created: httpdate::fmt_http_date(std::time::SystemTime::now()),
            };
            shared.orders.lock().unwrap().insert(order.id.clone(), order.clone());
            json_response(StatusCode::CREATED, serde_json::to_value(&order).unwrap_or_default())
        }
        (Method::GET, None) => {
            if shared.has(Fault::Stub) {
                return json_response(StatusCode::OK, json!({"error": "not implemented"}));
            }
            if shared.has(Fault::Empty) {
                return json_response(StatusCode::OK, json!([]));
            }
            let mine: Vec<Order> = shared.orders.lock().unwrap().values().filter(|o| o.owner == owner).cloned().collect();
            json_response(StatusCode::OK, serde_json::to_value(mine).unwrap_or_default())
        }
        (Method::GET, Some(id)) => {
            if shared.has(Fault::Empty) {
                return json_response(StatusCode::OK, json!({}));
            }
            match shared.orders.lock().unwrap().get(id).filter(|o| o.owner == owner) {
                Some(o) => {
                    let mut v = serde_json::to_value(o).unwrap_or_default();
                    if shared.has(Fault::Contract) {
                        // Breaks the OpenAPI document (`created` is a string there), nothing the suites assert.
                        v["created"] = json!(1_764_000_000);
                    }
                    json_response(StatusCode::OK, v)
                }
                None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such order"})),
            }
        }
        (Method::DELETE, Some(id)) => {
            let mut orders = shared.orders.lock().unwrap();
            match orders.get(id) {
                Some(o) if o.owner == owner => {
                    orders.remove(id);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no such order"})),
            }
        }
        _ => json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "method not allowed"})),
    }
}
