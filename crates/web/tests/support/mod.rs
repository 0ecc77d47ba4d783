//! Test support: a real server on a random port over a fresh database, two
//! seeded demo companies, and a small cookie-keeping HTTP client.
#![allow(dead_code)]

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::sync::atomic::{AtomicU32, Ordering};
use ticketflower_store::{Store, StoreOptions};
use ticketflower_web::demo::DemoLogin;
use ticketflower_web::{AppState, WebSettings, demo};

pub enum Backend {
    Sqlite,
    Postgres(String),
}

pub struct Company {
    pub name: String,
    pub logins: Vec<DemoLogin>,
}

impl Company {
    /// The demo login whose email starts with `who@`.
    pub fn login(&self, who: &str) -> DemoLogin {
        let prefix = format!("{who}@");
        self.logins.iter().find(|l| l.email.starts_with(&prefix)).cloned().unwrap_or_else(|| panic!("no {who}"))
    }
}

pub struct App {
    pub base: String,
    pub secret_key: ticketflower_store::SecretKey,
    pub store: Store,
    pub a: Company,
    pub b: Company,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix} {nanos} {}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl App {
    /// On PostgreSQL when `TICKETFLOWER_TEST_POSTGRES_URL` is set.
    pub async fn spawn_postgres() -> Option<App> {
        let url = std::env::var("TICKETFLOWER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
        Some(App::spawn(Backend::Postgres(url)).await)
    }

    pub async fn spawn(backend: Backend) -> App {
        App::spawn_with(backend, None).await
    }

    /// With the assistant talking to `assistant` (a provider pointed at a fake server).
    pub async fn spawn_with(backend: Backend, assistant: Option<ticketflower_assistant::Provider>) -> App {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
            Backend::Postgres(url) => url,
        };
        let store =
            Store::connect(StoreOptions::new(&url)).await.unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        let a = Company { name: unique("Alpha"), logins: Vec::new() };
        let b = Company { name: unique("Beta"), logins: Vec::new() };
        let a = Company { logins: demo::seed(&store, &a.name).await.unwrap(), ..a };
        let b = Company { logins: demo::seed(&store, &b.name).await.unwrap(), ..b };
        let files_dir = dir.path().join("files");
        let secret_key = ticketflower_store::SecretKey::generate().unwrap();
        let state = AppState::new(
            store.clone(),
            WebSettings { files_dir, secure_cookies: false, secret_key: secret_key.clone(), assistant },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ticketflower_web::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        App { base, secret_key, store, a, b, _dir: dir, _shutdown: shutdown }
    }

    /// A client logged in as the company's `who@` demo user.
    pub async fn client_for(&self, company: &Company, who: &str) -> Client {
        let login = company.login(who);
        let client = Client::new(&self.base);
        client.login(&login.email, &login.password).await;
        client
    }

    /// A client logged in as `who@` that asks for JSON (`Accept: application/json`) on every request.
    pub async fn json_client_for(&self, company: &Company, who: &str) -> Client {
        let login = company.login(who);
        let client = Client::accepting(&self.base, "application/json");
        client.login(&login.email, &login.password).await;
        client
    }

    /// Objects of company A for isolation tests: a ticket with a run, a
    /// comment with a file, and a ticket error.
    pub async fn a_objects(&self) -> Objects {
        let author = self.client_for(&self.a, "author").await;
        let created = author
            .post_form(
                "/tickets/new/document-edit/edit-request",
                &[("title", "Private thing"), ("submitted_doc", "secret")],
            )
            .await;
        let ticket_path = created.location.split('?').next().unwrap().to_owned();
        let ticket: i64 = ticket_path.rsplit('/').next().unwrap().parse().unwrap();
        let token = author.csrf_token().await;
        let form = reqwest::multipart::Form::new()
            .text("_csrf", token)
            .text("body", "with a file")
            .text("visibility", "public")
            .part("files", reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("hello.txt"));
        let response =
            author.http.post(format!("{}{ticket_path}/comments", self.base)).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let page = author.get_ok(&ticket_path).await;
        let file = link_starting(&page, "/files/").rsplit('/').next().unwrap().parse().unwrap();
        let instance = link_starting(&page, "/instances/").rsplit('/').next().unwrap().parse().unwrap();
        let run = link_starting(&page, "/tasks/").rsplit('/').next().unwrap().parse().unwrap();
        let owner = self.client_for(&self.a, "owner").await;
        let error = self.raise_error(&owner).await;
        let company = self.store.company_by_name(&self.a.name).await.unwrap().unwrap();
        let document = ticketflower_core::document::parse(
            &private_workflow(PRIVATE_KEY, "Private intake"),
            ticketflower_core::document::Syntax::Yaml,
        )
        .unwrap();
        let imported = self.store.import_definition(company, &document, None).await.unwrap();
        assert_eq!(imported.version, 1);
        let user = self.store.user_by_email(company, &self.a.login("editor").email).await.unwrap().unwrap().0;
        let role = self.store.list_roles(company).await.unwrap()[0].id.0;
        self.store.set_secret(&self.secret_key, company, "A_ONLY", "alpha's key").await.unwrap();
        let creator = self.store.user_by_email(company, &self.a.login("creator").email).await.unwrap().unwrap();
        let (conversation, proposal) = self.conversation_with_proposal(company, creator).await;
        Objects { ticket, instance, run, file, error, user, role, conversation, proposal }
    }

    /// An assistant conversation of `user` that ended with a proposal, stored as the
    /// web application stores it; returns (conversation id, proposal message id).
    pub async fn conversation_with_proposal(
        &self,
        company: ticketflower_store::CompanyId,
        user: ticketflower_store::UserId,
    ) -> (i64, i64) {
        use ticketflower_assistant::designer::{CompanyContext, Outcome, Proposal};
        let document = ticketflower_core::document::parse(
            &private_workflow("assistant-proposal", "Proposed intake"),
            ticketflower_core::document::Syntax::Yaml,
        )
        .unwrap();
        let proposal =
            Proposal::check(document, "A proposal.", &serde_json::Map::new(), "", &CompanyContext::default());
        assert!(proposal.is_valid(), "{}", proposal.report());
        let event = serde_json::json!({
            "event": "outcome",
            "outcome": Outcome::Proposal(Box::new(proposal)),
            "input_tokens": 0,
            "output_tokens": 0,
        });
        let messages = [
            ticketflower_store::NewMessage {
                role: "user".into(),
                content: serde_json::to_value(ticketflower_assistant::Message::user("make an intake")).unwrap(),
                input_tokens: 0,
                output_tokens: 0,
            },
            ticketflower_store::NewMessage {
                role: "event".into(),
                content: serde_json::Value::String(event.to_string()),
                input_tokens: 0,
                output_tokens: 0,
            },
        ];
        let id = self.store.start_conversation(company, user, "Private design", &messages).await.unwrap();
        let (_, stored) = self.store.conversation(company, user, id).await.unwrap();
        (id.0, stored.iter().find(|m| m.role == "event").unwrap().id)
    }

    /// Makes company A raise a ticket error (an automated step that failed
    /// for good) and returns its id.
    pub async fn raise_error(&self, owner: &Client) -> i64 {
        let company = self.store.company_by_name(&self.a.name).await.unwrap().unwrap();
        let ticket = self
            .store
            .create_ticket(
                company,
                ticketflower_store::NewTicket {
                    definition: "document-edit".into(),
                    ticket_type: "edit-request".into(),
                    fields: serde_json::json!({"title": "Error maker", "submitted_doc": "x"}),
                    creator: None,
                },
            )
            .await
            .unwrap();
        let outcome = self
            .store
            .execute(ticketflower_store::Command::Apply {
                company,
                instance: ticket.instance,
                event: ticketflower_core::engine::Event::Fail { seq: 0, message: "the partner API is down".into() },
                actor: None,
            })
            .await
            .unwrap();
        assert!(!outcome.faults.is_empty(), "failing a run raises an error");
        let page = owner.get_ok("/errors?status=NEW").await;
        first_link(&page, "/errors/").expect("an error was raised").rsplit('/').next().unwrap().parse().unwrap()
    }
}

pub struct Objects {
    pub conversation: i64,
    /// The message id of the conversation's proposal.
    pub proposal: i64,
    pub ticket: i64,
    pub instance: i64,
    pub run: i64,
    pub file: i64,
    pub error: i64,
    pub user: i64,
    pub role: i64,
}

/// The key of a workflow only company A has.
pub const PRIVATE_KEY: &str = "private-intake";

/// A small valid workflow: one approval, then done.
pub fn private_workflow(key: &str, title: &str) -> String {
    format!(
        "format: ticketflower/v1\nkey: {key}\ntitle: {title}\nroles: [staff]\n\
         fields: {{type: object, properties: {{title: {{type: string}}}}}}\n\
         tickets:\n  - key: request\n    title: Request\n    fields: {{type: object, required: [title], properties: {{title: {{type: string, title: Title}}}}}}\n\
         tasks:\n  - key: review\n    title: Review\n    type: approval\n    assign: {{role: staff}}\n\
         transitions:\n  - {{from: start, to: review}}\n  - {{from: review, status: COMPLETED}}\n"
    )
}

/// The first `href` in `html` that starts with `prefix` (without a query).
pub fn first_link(html: &str, prefix: &str) -> Option<String> {
    let needle = format!("href=\"{prefix}");
    let start = html.find(&needle)? + "href=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].split('?').next()?.to_owned())
}

pub fn link_starting(html: &str, prefix: &str) -> String {
    first_link(html, prefix).unwrap_or_else(|| panic!("no link starting {prefix} in {html}"))
}

/// The first task link of an inbox page.
pub fn first_task_link(html: &str) -> String {
    link_starting(html, "/tasks/")
}

pub struct Response {
    pub status: StatusCode,
    pub location: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Response {
    /// The body of an error answered as JSON, checked: a JSON content type, a
    /// `status` equal to the response's, and for 422 a non-empty `problems`
    /// list, each with a message and, when it names a field, a pointer under it.
    pub fn json_error(&self) -> serde_json::Value {
        let content_type = self.headers.get(reqwest::header::CONTENT_TYPE).map(|v| v.to_str().unwrap());
        assert_eq!(content_type, Some("application/json"), "{} {}", self.status, self.body);
        let body: serde_json::Value =
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body));
        assert_eq!(body["status"], self.status.as_u16(), "{body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            let problems = body["problems"].as_array().unwrap_or_else(|| panic!("no problems: {body}"));
            assert!(!problems.is_empty(), "{body}");
            for problem in problems {
                let pointer = problem["pointer"].as_str().unwrap();
                assert!(problem["message"].as_str().is_some_and(|m| !m.is_empty()), "{problem}");
                match problem["field"].as_str() {
                    Some(field) => assert!(pointer.starts_with(&format!("/{field}")), "{problem}"),
                    None => assert!(problem["field"].is_null() && pointer.is_empty(), "{problem}"),
                }
            }
        }
        body
    }

    /// The pointers of a 422's problems, sorted.
    pub fn problem_pointers(&self) -> Vec<String> {
        let body = self.json_error();
        let mut pointers: Vec<String> =
            body["problems"].as_array().unwrap().iter().map(|p| p["pointer"].as_str().unwrap().to_owned()).collect();
        pointers.sort();
        pointers
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

/// Installs the TLS crypto provider HTTP clients need (ring), once.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    pub fn new(base: &str) -> Client {
        install_tls();
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Client { base: base.to_owned(), http }
    }

    /// A client that sends this `Accept` header on every request.
    pub fn accepting(base: &str, accept: &'static str) -> Client {
        install_tls();
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static(accept));
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client { base: base.to_owned(), http }
    }

    /// A client that sends this cookie (`name=value`) on every request.
    pub fn with_cookie(base: &str, cookie: &str) -> Client {
        install_tls();
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client { base: base.to_owned(), http }
    }

    async fn read(response: reqwest::Response) -> Response {
        let status = response.status();
        let headers = response.headers().clone();
        let location =
            headers.get(reqwest::header::LOCATION).map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = response.text().await.unwrap_or_default();
        Response { status, location, headers, body }
    }

    pub async fn get(&self, path: &str) -> Response {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        if path.ends_with("/events") {
            // A stream: only the head matters.
            let status = response.status();
            return Response {
                status,
                location: String::new(),
                headers: response.headers().clone(),
                body: String::new(),
            };
        }
        Client::read(response).await
    }

    pub async fn get_ok(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status, StatusCode::OK, "GET {path}: {}", response.body);
        response.body
    }

    /// The CSRF token of the current session (from any page with a form).
    pub async fn csrf_token(&self) -> String {
        let page = self.get_ok("/account/password").await;
        let marker = "name=\"_csrf\" value=\"";
        let start = page.find(marker).expect("a csrf field") + marker.len();
        page[start..start + 64].to_owned()
    }

    /// Posts a form with the session's CSRF token, as the browser would.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf_token_or_empty().await;
        self.post_raw(path, fields, Some(&token), None).await
    }

    async fn csrf_token_or_empty(&self) -> String {
        let page = self.get("/account/password").await;
        let marker = "name=\"_csrf\" value=\"";
        match page.body.find(marker) {
            Some(start) => page.body[start + marker.len()..start + marker.len() + 64].to_owned(),
            None => String::new(),
        }
    }

    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        token: Option<&str>,
        origin: Option<&str>,
    ) -> Response {
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = token {
            pairs.push(("_csrf", token));
        }
        let mut request = self.http.post(format!("{}{path}", self.base)).form(&pairs);
        if let Some(origin) = origin {
            request = request.header(reqwest::header::ORIGIN, origin);
        }
        Client::read(request.send().await.unwrap()).await
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[("email", email), ("password", password), ("next", "/inbox")])
            .send()
            .await
            .unwrap();
        Client::read(response).await
    }

    /// Logs in; returns the Set-Cookie header of the new session.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self.post_login(email, password).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "login as {email}: {}", response.body);
        response.headers.get(reqwest::header::SET_COOKIE).unwrap().to_str().unwrap().to_owned()
    }
}

/// Reads from a Server-Sent Events response until one whole event arrived.
pub async fn next_event(stream: &mut reqwest::Response) -> String {
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(15), stream.chunk())
            .await
            .expect("an event within 15 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(end) = text.find("\n\n") {
            let event = text[..end].to_owned();
            if event.contains("event: state") {
                return event;
            }
            text = text[end + 2..].to_owned();
        }
    }
}
