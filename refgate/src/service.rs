//! The upstream service behind the gateway: auth routes, orders, an echo route, and
//! `/__inspect` (on the service listener only) showing what is left behind.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use crate::{Fault, Order, Shared, User, json_response, token};

pub(crate) async fn handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let caller = header(req.headers(), "x-smoke-user");
    let request_id = header(req.headers(), "x-request-id");
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let body: J = serde_json::from_slice(&body).unwrap_or(J::Null);

    if path == "/__inspect" {
        let users: Vec<String> = shared.users.lock().unwrap().keys().cloned().collect();
        let orders: Vec<Order> = shared.orders.lock().unwrap().values().cloned().collect();
        let logins = shared.logins.load(std::sync::atomic::Ordering::SeqCst);
        return json_response(StatusCode::OK, json!({"users": users, "records": orders, "logins": logins}));
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
                Some(o) => json_response(StatusCode::OK, serde_json::to_value(o).unwrap_or_default()),
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
