//! Importers (issue #25), through the binary: Hurl files, a Postman v2.1 collection, curl lines
//! and OpenAPI starters. Each imported folder passes `smokegate check` and runs against the
//! reference gateway: green where the original passes, red where it fails.

use std::path::Path;

use serde_json::Value as J;

use crate::common::*;

const USER: &str = "hurl-user@example.test";
const PASSWORD: &str = "hurl-Pa55word-1";

/// The service account the imported logins log in as (Hurl files log into an existing user).
fn account(p: &Project, gate: &Refgate) {
    p.write(
        "setup/create.yaml",
        &format!("auth: none\nsteps:\n  - name: account\n    request: {{ method: POST, path: /api/auth/V1/auth/create, json: {{ email: \"{USER}\", password: \"{PASSWORD}\" }} }}\n    expect: {{ status: 201 }}\n"),
    );
    let o = p.std_cmd().args(["run", "setup", "--gateway", &gate.gateway, "--state-dir"]).arg(p.state()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn import(p: &Project, args: &[&str]) -> (Option<i32>, String) {
    let o = p.std_cmd().arg("import").args(args).output().unwrap();
    (o.status.code(), text(&o))
}

/// `check` then `run` of an imported folder; (run's code, output, report).
fn check_and_run(p: &Project, dir: &str, gate: &Refgate, vars: &[&str]) -> (Option<i32>, String, J) {
    let env = [("SMOKE_USERNAME", USER), ("SMOKE_PASSWORD", PASSWORD)];
    let mut c = p.std_cmd();
    c.args(["check", dir]).args(vars).env("GATEWAY_BASE_URL", &gate.gateway);
    c.envs(env);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "check accepts what import wrote:\n{}\n{}", text(&o), listing(&p.path().join(dir)));
    let report = p.path().join("report.json");
    let mut c = p.std_cmd();
    c.args(["run", dir, "--gateway", &gate.gateway, "--state-dir"]).arg(p.state()).arg("--json").arg(&report).args(vars).envs(env);
    let o = c.output().unwrap();
    let r = std::fs::read_to_string(&report).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(J::Null);
    (o.status.code(), text(&o), r)
}

fn listing(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push_str(&format!("--- {}\n{}\n", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default()));
    }
    out
}

const LOGIN_HURL: &str = r#"# Every Hurl file logs in again (hurl#2110): smokegate logs in once.
POST {{base_url}}/api/auth/V1/auth/login
Content-Type: application/json
{
  "email": "{{user}}",
  "password": "{{password}}"
}
HTTP 200
[Captures]
token: jsonpath "$.token" redact
user_id: jsonpath "$.user.id"
"#;

fn orders_hurl() -> String {
    format!(
        r#"{LOGIN_HURL}
POST {{{{base_url}}}}/api/orders
Authorization: Bearer {{{{token}}}}
{{"sku": "hurl-{{{{sku}}}}", "qty": {{{{qty}}}}}}
HTTP 201
[Captures]
order_id: jsonpath "$.id"
short: jsonpath "$.id" regex "^ord-([0-9a-f]{{6}})"
[Asserts]
jsonpath "$.sku" == "hurl-{{{{sku}}}}"
jsonpath "$.qty" >= 2
jsonpath "$.qty" isInteger
jsonpath "$.id" isString
jsonpath "$.id" startsWith "ord-"
jsonpath "$.owner" exists
jsonpath "$.missing" not exists
header "Content-Type" contains "json"
duration < 5000

GET {{{{base_url}}}}/api/orders
Authorization: Bearer {{{{token}}}}
[Query]
limit: 10
HTTP 200
[Asserts]
jsonpath "$" count >= 1
jsonpath "$" isList
jsonpath "$" not isEmpty
jsonpath "$[*].sku" contains "hurl-{{{{sku}}}}"
jsonpath "$" nth 0 isObject
body contains "hurl-"
body matches /"sku"/

GET {{{{base_url}}}}/api/orders/{{{{order_id}}}}
Authorization: Bearer {{{{token}}}}
HTTP 200
Content-Type: application/json
[Asserts]
jsonpath "$.id" == "{{{{order_id}}}}"
jsonpath "$.id" matches "^ord-{{{{short}}}}"
jsonpath "$.sku" endsWith "{{{{sku}}}}"
jsonpath "$.qty" != 3
xpath "//title" exists

DELETE {{{{base_url}}}}/api/orders/{{{{order_id}}}}
Authorization: Bearer {{{{token}}}}
HTTP 204

GET {{{{base_url}}}}/api/orders/{{{{order_id}}}}
Authorization: Bearer {{{{token}}}}
HTTP 404
"#
    )
}

const JOBS_HURL: &str = r#"POST https://api.example.com/api/auth/V1/auth/login
{"email": "hurl-user@example.test", "password": "hurl-Pa55word-1"}
HTTP 200
[Captures]
token: jsonpath "$.token"

POST https://api.example.com/api/jobs
Authorization: Bearer {{token}}
```json
{"fail": false}
```
HTTP 202
[Captures]
job: jsonpath "$.id"

GET https://api.example.com/api/jobs/{{job}}
Authorization: Bearer {{token}}
[Options]
retry: 40
retry-interval: 100
delay: 10
HTTP 200
[Asserts]
jsonpath "$.status" == "done"
regex /done/ exists

POST https://api.example.com/api/echo/forms
Authorization: Bearer {{token}}
[Form]
a: 1
b: two words
c: {{newUuid}}
HTTP 200
[Asserts]
jsonpath "$.form.b" == "two words"
jsonpath "$.form.c" matches /^[0-9a-f-]{36}$/
jsonpath "$.form" count == 3

GET https://api.example.com/health/ready
HTTP *
"#;

#[test]
fn hurl_files_import_and_run_green_then_red_where_the_original_fails() {
    let gate = Refgate::start(refgate::RefgateOptions { job_delay: std::time::Duration::from_millis(300), ..Default::default() });
    let p = Project::new();
    account(&p, &gate);
    p.write("hurl/orders.hurl", &orders_hurl());
    p.write("hurl/jobs.hurl", JOBS_HURL);
    let (code, out) = import(&p, &["hurl", "hurl/orders.hurl", "hurl/jobs.hurl", "-o", "imported"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("wrote imported/orders.yaml") && out.contains("wrote imported/jobs.yaml") && out.contains("imported/smokegate.yaml"),
        "{out}"
    );
    assert!(out.contains("not converted 2"), "xpath and endsWith a template are listed: {out}");
    assert!(out.contains("hurl/orders.hurl:") && out.contains("xpath"), "{out}");
    assert!(out.contains("`endsWith` with a template"), "{out}");
    let config = std::fs::read_to_string(p.path().join("imported/smokegate.yaml")).unwrap();
    assert!(
        config.contains("mode: service-account") && config.contains("token: $.token") && config.contains("secrets: [token]"),
        "{config}"
    );
    assert!(!config.contains(PASSWORD), "an inline password is not copied: {config}");
    let orders = std::fs::read_to_string(p.path().join("imported/orders.yaml")).unwrap();
    assert!(!orders.contains("Authorization"), "the hand-written token header is dropped: {orders}");
    assert!(orders.contains("# not converted (hurl/orders.hurl:") && orders.contains("xpath"), "{orders}");
    let jobs = std::fs::read_to_string(p.path().join("imported/jobs.yaml")).unwrap();
    assert!(jobs.contains("eventually:") && jobs.contains("delay: 10ms"), "retry is `eventually`, delay `delay`: {jobs}");

    // Typed values, as Hurl's `--variables-file` gives them (`--var` is text).
    p.write("vars.yaml", "sku: s1\nqty: 2\n");
    let vars = ["--vars-file", "vars.yaml"];
    let (code, out, r) = check_and_run(&p, "imported", &gate, &vars);
    assert_eq!(code, Some(0), "{out}\n{}", listing(&p.path().join("imported")));
    assert!(r["run"]["user"].as_str().is_some_and(|u| u == USER) || out.contains(USER), "it ran as the service account: {out}");
    let logins = r["breadcrumbs"].as_array().unwrap().iter().filter(|c| c["phase"] == "bootstrap.login").count();
    assert_eq!(logins, 1, "one login for both files");

    // Where the original would fail, the import fails: two orders would not be `>= 2`… as `qty 1`.
    p.write("vars.yaml", "sku: s2\nqty: 1\n");
    let (code, out, _) = check_and_run(&p, "imported", &gate, &vars);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("$.qty"), "{out}");
}

#[test]
fn hurl_inputs_that_cannot_be_converted_are_refused_with_their_line() {
    let p = Project::new();
    p.write("a.hurl", "GET https://a.example/x\nHTTP 200\n\nGET https://b.example/y\nHTTP 200\n");
    p.write("good.hurl", "GET https://a.example/health/ready\nHTTP 200\n");
    p.write("bad.hurl", "this is not hurl\n");
    let (code, out) = import(&p, &["hurl", "a.hurl", "bad.hurl", "good.hurl", "missing.hurl"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("a.hurl:4") && out.contains("another origin"), "{out}");
    assert!(out.contains("bad.hurl:1") && out.contains("missing.hurl"), "{out}");
    assert!(p.path().join("smoke-suites/good.yaml").is_file(), "the good file is still written: {out}");
    // Nothing is overwritten without --force.
    let (code, out) = import(&p, &["hurl", "good.hurl"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("exists (pass --force"), "{out}");
    let (code, out) = import(&p, &["hurl", "good.hurl", "--force"]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn curl_lines_import_and_run() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    account(&p, &gate);
    p.write(
        "smoke.sh",
        "#!/bin/sh\n# the ADR's helpers\nwith_auth curl -sS -X POST \"$BASE/api/orders\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{\"sku\": \"curl-1\", \"qty\": 1}'\ncurl -sS \"$BASE/health/ready\"\ncurl -s -H \"Authorization: Bearer $TOKEN\" \"$BASE/api/orders\" -G -d limit=5\ncurl -F file=@x.png \"$BASE/api/echo/forms\"\n",
    );
    let (code, out) = import(&p, &["curl", "-f", "smoke.sh", "-o", "from-curl"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("not converted 1") && out.contains("multipart"), "{out}");
    let suite = std::fs::read_to_string(p.path().join("from-curl/smoke.yaml")).unwrap();
    assert!(!suite.lines().any(|l| l.trim_start().starts_with("Authorization:")) && !suite.contains("$TOKEN"), "{suite}");
    // The upload step cannot pass without its body: drop it, as the comment says.
    let cut = suite.find("\n\n  # not converted").expect("the upload step is last");
    p.write("from-curl/smoke.yaml", &suite[..cut + 1]);
    p.write("from-curl/smokegate.yaml", "auth:\n  mode: service-account\n  login:\n    request: { method: POST, path: /api/auth/V1/auth/login, json: { email: \"{{ user.email }}\", password: \"{{ user.password }}\" } }\n    token: $.token\n");
    let (code, out, _) = check_and_run(&p, "from-curl", &gate, &[]);
    assert_eq!(code, Some(0), "{out}");
    // One argument works too, and a non-curl line is refused.
    let (code, out) = import(&p, &["curl", "curl -X DELETE https://h.example/api/orders/1", "-o", "one"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(std::fs::read_to_string(p.path().join("one/curl.yaml")).unwrap().contains("method: DELETE"));
    let (code, out) = import(&p, &["curl", "wget https://h.example/x", "-o", "two"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not a curl command"), "{out}");
}

const COLLECTION: &str = r#"{
  "info": { "name": "Shop", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json" },
  "auth": { "type": "bearer", "bearer": [ { "key": "token", "value": "{{token}}", "type": "string" } ] },
  "variable": [ { "key": "baseUrl", "value": "https://api.example.com" }, { "key": "sku", "value": "pm-1" } ],
  "item": [
    { "name": "Auth", "item": [
      { "name": "Log in", "request": { "method": "POST", "auth": { "type": "noauth" },
          "header": [ { "key": "Content-Type", "value": "application/json" } ],
          "body": { "mode": "raw", "raw": "{\"email\": \"{{email}}\", \"password\": \"{{password}}\"}", "options": { "raw": { "language": "json" } } },
          "url": { "raw": "{{baseUrl}}/api/auth/V1/auth/login", "host": ["{{baseUrl}}"], "path": ["api","auth","V1","auth","login"] } },
        "event": [ { "listen": "test", "script": { "exec": [
          "pm.test(\"logged in\", function () {",
          "    pm.response.to.have.status(200);",
          "    var jsonData = pm.response.json();",
          "    pm.environment.set(\"token\", jsonData.token);",
          "});" ] } } ] } ] },
    { "name": "Orders", "item": [
      { "name": "Create an order", "request": { "method": "POST",
          "body": { "mode": "raw", "raw": "{\"sku\": \"{{sku}}\", \"qty\": 2}", "options": { "raw": { "language": "json" } } },
          "url": "{{baseUrl}}/api/orders" },
        "event": [ { "listen": "test", "script": { "exec": [
          "pm.test(\"created\", () => {",
          "  pm.expect(pm.response.code).to.eql(201);",
          "  const json = pm.response.json();",
          "  pm.expect(json.sku).to.eql(pm.collectionVariables.get('sku'));",
          "  pm.expect(json.qty).to.be.above(1);",
          "  pm.expect(json.id).to.be.a('string');",
          "  pm.expect(pm.response.headers.get('Content-Type')).to.include('json');",
          "  pm.expect(pm.response.responseTime).to.be.below(5000);",
          "  pm.collectionVariables.set(\"order_id\", json.id);",
          "  console.log(json);",
          "});" ] } } ] },
      { "name": "List orders", "request": { "method": "GET", "url": { "raw": "{{baseUrl}}/api/orders?limit=10" } },
        "event": [ { "listen": "test", "script": { "exec": [
          "pm.response.to.have.status(200);",
          "var data = pm.response.json();",
          "pm.expect(data.length).to.be.above(0);",
          "pm.expect(data[0].id).to.exist;" ] } } ] },
      { "name": "Delete it", "request": { "method": "DELETE", "url": "{{baseUrl}}/api/orders/{{order_id}}" },
        "event": [ { "listen": "test", "script": { "exec": [ "pm.response.to.have.status(204);" ] } } ] }
    ] },
    { "name": "Health", "request": { "method": "GET", "auth": { "type": "noauth" }, "url": "{{baseUrl}}/health/ready" },
      "event": [ { "listen": "test", "script": { "exec": [ "pm.response.to.be.ok;" ] } } ] }
  ]
}"#;

#[test]
fn a_postman_collection_imports_and_runs() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    account(&p, &gate);
    p.write("shop.postman_collection.json", COLLECTION);
    let (code, out) = import(&p, &["postman", "shop.postman_collection.json", "-o", "pm"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("wrote pm/orders.yaml") && out.contains("wrote pm/shop.yaml") && out.contains("pm/smokegate.yaml"), "{out}");
    // Not converted, and listed: the collection-variable read in an expectation and console.log.
    assert!(out.contains("console.log(json)") && out.contains("collectionVariables.get"), "{out}");
    let config = std::fs::read_to_string(p.path().join("pm/smokegate.yaml")).unwrap();
    assert!(config.contains("token: $.token") && config.contains("{{ user.email }}"), "{config}");
    let (code, out, r) = check_and_run(&p, "pm", &gate, &[]);
    assert_eq!(code, Some(0), "{out}\n{}", listing(&p.path().join("pm")));
    let steps: Vec<J> = r["suites"].as_array().unwrap().iter().flat_map(|s| s["steps"].as_array().unwrap().clone()).collect();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    for n in ["Create an order", "List orders", "Delete it", "Health"] {
        assert!(names.contains(&n), "{n} ran: {names:?}");
    }
    // Red where the collection's tests fail: the service answers qty 1.
    let orders = std::fs::read_to_string(p.path().join("pm/orders.yaml")).unwrap();
    p.write("pm/orders.yaml", &orders.replace("qty: 2", "qty: 1"));
    let (code, out, _) = check_and_run(&p, "pm", &gate, &[]);
    assert_eq!(code, Some(1), "{out}");
}

const OPENAPI: &str = r##"openapi: 3.1.0
info: { title: Orders API, version: "1" }
security: [ { bearer: [] } ]
paths:
  /health/ready:
    get:
      security: []
      responses: { "200": { description: ok } }
  /api/orders:
    get:
      summary: list orders
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: { type: array, items: { $ref: "#/components/schemas/Order" } }
    post:
      summary: create an order
      requestBody:
        content:
          application/json:
            schema: { type: object, required: [sku], properties: { sku: { type: string, example: smoke-1 }, qty: { type: integer } } }
      responses: { "201": { description: created } }
  /api/orders/{id}:
    get:
      summary: one order
      parameters: [ { name: id, in: path, required: true, schema: { type: string } } ]
      responses: { "200": { description: ok }, "404": { description: gone } }
  /api/echo:
    get:
      parameters: [ { name: q, in: query, required: true, schema: { type: string } } ]
      responses: { "200": { description: ok } }
components:
  schemas:
    Order: { type: object, properties: { id: { type: string }, sku: { type: string } } }
"##;

#[test]
fn init_writes_a_starter_folder_from_an_openapi_document() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    p.write("openapi.yaml", OPENAPI);
    let o = p.std_cmd().args(["init", "--openapi", "openapi.yaml", "-o", "starter"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("starter/health.yaml") && out.contains("starter/orders-api.yaml") && out.contains("starter/smokegate.yaml"),
        "{out}"
    );
    assert!(out.contains("not converted 0"), "{out}");
    let api = std::fs::read_to_string(p.path().join("starter/orders-api.yaml")).unwrap();
    assert!(api.contains("# - name: create an order") && api.contains("sku: smoke-1"), "writes are commented templates: {api}");
    assert!(api.contains("/api/orders/{{ id }}"), "the item route uses what the list captured: {api}");
    assert!(
        api.contains("path: \"/api/echo?q=smoke\"") && api.contains("placeholder values"),
        "a required query parameter gets a placeholder: {api}"
    );
    let config = std::fs::read_to_string(p.path().join("starter/smokegate.yaml")).unwrap();
    assert!(config.contains("openapi: \"../openapi.yaml\""), "{config}");
    // The starter runs: the list needs an order, so one is made first by a setup suite.
    p.write(
        "starter/0-seed.yaml",
        "steps:\n  - name: seed\n    request: { method: POST, path: /api/orders, json: { sku: seed } }\n    expect: { status: 201 }\n",
    );
    let report = p.path().join("r.json");
    let o = p
        .std_cmd()
        .args(["run", "starter", "--gateway", &gate.gateway, "--state-dir"])
        .arg(p.state())
        .arg("--json")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o), listing(&p.path().join("starter")));
    assert!(text(&o).contains("openapi:"), "coverage is measured: {}", text(&o));

    // `--only-missed`: only what a run did not exercise (here, one of the health suite alone).
    let o = p
        .std_cmd()
        .args(["run", "starter/health.yaml", "--gateway", &gate.gateway, "--state-dir"])
        .arg(p.state())
        .arg("--json")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = p.std_cmd().args(["init", "--openapi", "openapi.yaml", "--only-missed"]).arg(&report).args(["-o", "missed"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let missed = std::fs::read_to_string(p.path().join("missed/orders-api.yaml")).unwrap();
    assert!(missed.contains("list orders") && missed.contains("/api/echo") && !missed.contains("path: /health/ready"), "{missed}");
    // A report without coverage is refused by name.
    std::fs::write(&report, "{\"run\": {}}").unwrap();
    let o = p.std_cmd().args(["init", "--openapi", "openapi.yaml", "--only-missed"]).arg(&report).args(["-o", "m2"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("run.openapi.missed"), "{}", text(&o));
}

/// An OpenAPI 3.0 document (`nullable`, a shared response) starts a folder the same way.
#[test]
fn init_reads_openapi_3_0_too() {
    let p = Project::new();
    let doc = OPENAPI
        .replace("openapi: 3.1.0", "openapi: 3.0.3")
        .replace("sku: { type: string } } }", "sku: { type: string, nullable: true } } }");
    p.write("openapi.yaml", &doc);
    let o = p.std_cmd().args(["init", "--openapi", "openapi.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let api = std::fs::read_to_string(p.path().join("smoke-suites/orders-api.yaml")).unwrap();
    assert!(api.contains("name: list orders") && api.contains("/api/orders/{{ id }}"), "{api}");
    // Not a 3.x document: refused by name.
    p.write("swagger.yaml", "swagger: \"2.0\"\npaths: {}\n");
    let o = p.std_cmd().args(["init", "--openapi", "swagger.yaml", "-o", "s2"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("swagger.yaml") && text(&o).contains("not an OpenAPI 3.0 or 3.1 document"), "{}", text(&o));
}

#[test]
fn init_without_a_document_writes_a_config_and_a_health_suite() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    let o = p.std_cmd().arg("init").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(p.path().join("smoke-suites/smokegate.yaml").is_file() && p.path().join("smoke-suites/health.yaml").is_file());
    let o = p.std_cmd().args(["run", "--gateway", &gate.gateway, "--state-dir"]).arg(p.state()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
