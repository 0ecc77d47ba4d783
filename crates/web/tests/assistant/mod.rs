//! The assistant's pages against a fake model server speaking the real wire
//! protocols: a request becomes a plan, the approved plan a proposal, the
//! proposal a saved draft the person can take back; the model cannot activate;
//! a failing provider stores nothing; a proposal with placeholders cannot be
//! saved; a stale base is refused; a company's own model settings are used.

use crate::support::{App, Backend, Client};
use reqwest::StatusCode;
use serde_json::json;
use ticketflower_assistant::fake::{FakeProvider, Reply, scripts};
use ticketflower_assistant::{Provider, ProviderKind};

macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)+) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(super::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match std::env::var("TICKETFLOWER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
                    Some(url) => super::$body(super::Backend::Postgres(url)).await,
                    None => eprintln!("TICKETFLOWER_TEST_POSTGRES_URL is not set; PostgreSQL not tested"),
                }
            }
        }
    )+};
}

on_both_backends! {
    a_request_becomes_a_plan_a_proposal_and_a_draft_the_user_saves_and_undoes => design_to_draft;
    proposals_with_placeholders_and_failing_providers_save_nothing => nothing_saved_on_trouble;
    a_company_uses_its_own_model_settings => company_settings;
}

async fn app_with_fake(backend: Backend, script: Vec<Reply>) -> (App, FakeProvider) {
    let fake = FakeProvider::start(script).await.unwrap();
    let provider = Provider::new(fake.config(ProviderKind::Anthropic)).unwrap();
    (App::spawn_with(backend, Some(provider)).await, fake)
}

/// The first `action` in `html` containing `needle`.
fn action_with(html: &str, needle: &str) -> String {
    html.split("action=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .find(|action| action.contains(needle))
        .unwrap_or_else(|| panic!("no form action with {needle} in {html}"))
}

fn conversation_path(location: &str) -> String {
    let path = location.split('#').next().unwrap().to_owned();
    assert!(path.starts_with("/assistant/conversations/"), "{location}");
    path
}

async fn versions(app: &App, key: &str) -> Vec<(i64, String)> {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    app.store
        .list_versions(company)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.key == key)
        .map(|v| (v.version, v.status.as_str().to_owned()))
        .collect()
}

async fn message_count(app: &App, client_who: &str, path: &str) -> usize {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let user = app.store.user_by_email(company, &app.a.login(client_who).email).await.unwrap().unwrap();
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    app.store.conversation(company, user, ticketflower_store::ConversationId(id)).await.unwrap().1.len()
}

/// Posts a message with `Accept: text/event-stream`, as the page's script does, and reads the whole stream.
async fn post_streaming(client: &Client, path: &str, text: &str) -> (StatusCode, String, String) {
    let token = client.csrf_token().await;
    let response = client
        .http
        .post(format!("{}{path}", client.base))
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .form(&[("text", text), ("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn design_to_draft(backend: Backend) {
    let mut script = scripts::document_edit();
    // First the model looks for another company's workflow: it only ever sees its own company's.
    script.insert(
        0,
        Reply::tool_call("get_workflow", json!({"key": "beta-secret"})).and_tool_call("list_workflows", json!({})),
    );
    // Later: the person asks the model to activate; it tries, is told it cannot, and says so.
    script.push(Reply::tool_call("activate_workflow", json!({"key": "document-edit", "version": 2})));
    script.push(Reply::text("I cannot activate workflows. Open the saved draft and click Activate there."));
    let (app, fake) = app_with_fake(backend, script).await;
    let beta = app.store.company_by_name(&app.b.name).await.unwrap().unwrap();
    let secret = ticketflower_core::document::parse(
        &crate::support::private_workflow("beta-secret", "Beta's secret process"),
        ticketflower_core::document::Syntax::Yaml,
    )
    .unwrap();
    app.store.import_definition(beta, &secret, None).await.unwrap();
    let creator = app.client_for(&app.a, "creator").await;

    let index = creator.get_ok("/assistant").await;
    assert!(index.contains("Describe a process") && index.contains("fake-model"), "{index}");

    // Request → plan (no JavaScript: a post and a redirect).
    let started = creator.post_form("/assistant/conversations", &[("text", scripts::DOCUMENT_EDIT_REQUEST)]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let path = conversation_path(&started.location);
    let page = creator.get_ok(&path).await;
    assert!(page.contains("Proposed plan") && page.contains("Answer the questions"), "{page}");
    assert!(page.contains(scripts::DOCUMENT_EDIT_REQUEST));
    let approve = action_with(&page, "/messages");
    let looked = fake.requests()[1].messages().iter().map(|m| m.to_string()).collect::<Vec<_>>().join("\n");
    assert!(looked.contains("no workflow \\\"beta-secret\\\""), "{looked}");
    assert!(looked.contains("document-edit") && !looked.contains("Beta's secret"), "{looked}");
    let system = fake.requests()[0].system_prompt().unwrap().to_owned();
    assert!(!system.contains("beta-secret") && system.contains("- document-edit: Document Edit"), "{system}");
    for login in &app.a.logins {
        assert!(!system.contains(&login.email), "the prompt names no people");
    }

    // Approving streams the next turn, which ends with a proposal.
    let (status, content_type, body) =
        post_streaming(&creator, &approve, "I approve this plan. Please build the complete workflow.").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let streamed: String = body
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("event: text\ndata: "))
        .map(|data| serde_json::from_str::<String>(data).unwrap())
        .collect();
    assert_eq!(streamed, "Here is the workflow.", "{body}");
    assert!(body.contains("event: working"), "{body}");
    assert!(body.contains(&format!("event: done\ndata: {path}#latest")), "{body}");

    let page = creator.get_ok(&path).await;
    assert!(page.contains("Proposal: Document Edit"), "{page}");
    assert!(page.contains("From your words: “an editor edits the document”"), "{page}");
    assert!(page.contains("<svg"), "the proposal shows its diagram");
    assert!(page.contains("Changes the existing workflow") && page.contains("Changes against version 1"), "{page}");
    assert!(page.contains("On sample data"), "{page}");
    // The model's proposal is not saved until the person clicks.
    assert_eq!(versions(&app, "document-edit").await, [(1, "ACTIVE".to_owned())]);

    let save = action_with(&page, "/save");
    let saved = creator.post_form(&save, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(versions(&app, "document-edit").await, [(2, "DRAFT".to_owned()), (1, "ACTIVE".to_owned())]);
    let page = creator.get_ok(&path).await;
    assert!(page.contains("Saved as draft version 2"), "{page}");
    assert!(page.contains("href=\"/definitions/document-edit/versions/2\""), "{page}");

    // Undo takes the draft back; saving again makes it anew.
    let undo = action_with(&page, "/undo");
    assert_eq!(creator.post_form(&undo, &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(versions(&app, "document-edit").await, [(1, "ACTIVE".to_owned())]);
    assert!(creator.get_ok(&path).await.contains("You took back draft version 2"));
    assert_eq!(creator.post_form(&undo, &[]).await.status, StatusCode::CONFLICT, "nothing left to undo");
    assert_eq!(creator.post_form(&save, &[]).await.status, StatusCode::SEE_OTHER);
    // The same proposal saved twice would overwrite version 2 from a stale base: refused.
    let stale = creator.post_form(&save, &[]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(stale.body.contains("version 2"), "{}", stale.body);

    // The model tries to activate: it has no such power, the draft stays a draft.
    let asked = creator.post_form(&approve, &[("text", "Activate it now.")]).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    assert_eq!(versions(&app, "document-edit").await, [(2, "DRAFT".to_owned()), (1, "ACTIVE".to_owned())]);
    let page = creator.get_ok(&path).await;
    assert!(page.contains("I cannot activate workflows"), "{page}");
    let last = fake.requests().into_iter().last().unwrap();
    let told = last.messages().iter().any(|m| m.to_string().contains("You cannot save, activate"));
    assert!(told, "the model was told it cannot activate: {:?}", last.messages());

    // Simulating the proposal from its card.
    let simulate = format!("{}/simulate", save.trim_end_matches("/save"));
    let form = creator.get_ok(&simulate).await;
    assert!(form.contains("Simulate the proposal Document Edit"), "{form}");
    let ran = creator
        .post_form(
            &simulate,
            &[
                ("ticket_type", "edit-request"),
                ("data", "{\"title\": \"Hello\", \"submitted_doc\": \"x\"}"),
                ("outputs", "{\"edit\": [{\"updated_doc\": \"y\"}]}"),
            ],
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK);
    assert!(ran.body.contains("COMPLETED"), "{}", ran.body);

    // Another user of the same company does not see the conversation; people without workflow_creator cannot use the assistant.
    let owner = app.client_for(&app.a, "owner").await;
    assert_eq!(owner.get(&path).await.status, StatusCode::NOT_FOUND);
    let editor = app.client_for(&app.a, "editor").await;
    assert_eq!(editor.get("/assistant").await.status, StatusCode::FORBIDDEN);
    assert_eq!(fake.remaining(), 0);
}

async fn nothing_saved_on_trouble(backend: Backend) {
    let mut broken = scripts::document_edit_document();
    broken["key"] = json!("edit-desk");
    broken["transitions"][1]["to"] = json!("anwser");
    let propose_broken = || Reply::tool_call("propose_workflow", json!({"document": broken.clone(), "summary": "s"}));
    let script = vec![
        // One proposal and three repairs that fix nothing: the person sees placeholders.
        propose_broken(),
        propose_broken(),
        propose_broken(),
        propose_broken(),
        // Then the provider refuses the key, and then is down.
        Reply::error(401, "invalid x-api-key"),
        Reply::error(529, "overloaded"),
        Reply::error(529, "overloaded"),
        Reply::error(529, "overloaded"),
    ];
    let (app, fake) = app_with_fake(backend, script).await;
    let creator = app.client_for(&app.a, "creator").await;
    let started = creator.post_form("/assistant/conversations", &[("text", "An edit desk, please.")]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let path = conversation_path(&started.location);
    let page = creator.get_ok(&path).await;
    assert!(page.contains("1 to resolve") && page.contains("Placeholders to resolve"), "{page}");
    assert!(page.contains("anwser"), "the problem is shown beside the part it concerns: {page}");
    assert!(page.contains("disabled"), "Save as draft is disabled: {page}");
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let user = app.store.user_by_email(company, &app.a.login("creator").email).await.unwrap().unwrap();
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let (_, stored) = app.store.conversation(company, user, ticketflower_store::ConversationId(id)).await.unwrap();
    let proposal = stored.iter().rev().find(|m| m.role == "event").unwrap().id;
    let refused = creator.post_form(&format!("{path}/proposals/{proposal}/save"), &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(versions(&app, "edit-desk").await.is_empty(), "nothing was saved");
    // Fixing by hand: the document in the upload form with its problem beside it; fixed, it saves as a draft.
    let by_hand = creator.get_ok(&format!("{path}/proposals/{proposal}/document")).await;
    assert!(by_hand.contains("action=\"/definitions/upload\"") && by_hand.contains("anwser"), "{by_hand}");
    assert!(by_hand.contains("/transitions/1/to"), "{by_hand}");
    let mut fixed = broken.clone();
    fixed["transitions"][1]["to"] = json!("answer");
    let uploaded = creator.post_form("/definitions/upload", &[("document", &fixed.to_string())]).await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    assert_eq!(versions(&app, "edit-desk").await, [(1, "DRAFT".to_owned())]);

    // A refused key: the message says so, what was typed is kept, nothing is stored.
    let before = message_count(&app, "creator", &path).await;
    let failed = creator.post_form(&format!("{path}/messages"), &[("text", "Try once more")]).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
    assert!(failed.body.contains("refused the API key"), "{}", failed.body);
    assert!(failed.body.contains(">Try once more</textarea>"), "{}", failed.body);
    assert_eq!(message_count(&app, "creator", &path).await, before);

    // Down, streamed: a `failed` event with the sentence to show; nothing stored either.
    let (status, _, body) = post_streaming(&creator, &format!("{path}/messages"), "And now?").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("event: failed") && body.contains("unavailable"), "{body}");
    assert_eq!(message_count(&app, "creator", &path).await, before);

    // An empty message is a form error, not a model call.
    let empty = creator.post_form(&format!("{path}/messages"), &[("text", "  ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("Write a message first"), "{}", empty.body);
    assert_eq!(fake.remaining(), 0);
}

async fn company_settings(backend: Backend) {
    // The server has no model; the company sets its own, pointing at the fake.
    let fake = FakeProvider::start([Reply::text("Hello from the company's own model.")]).await.unwrap();
    let app = App::spawn_with(backend, None).await;
    let creator = app.client_for(&app.a, "creator").await;
    assert!(creator.get_ok("/assistant").await.contains("not set up on this server"));
    let owner = app.client_for(&app.a, "owner").await;
    let invalid = owner
        .post_form(
            "/admin/assistant",
            &[("provider", "anthropic"), ("model", ""), ("base_url", "ftp://x"), ("api_key", "")],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    for expected in ["name the model", "must start with https://", "Anthropic needs an API key"] {
        assert!(invalid.body.contains(expected), "{expected}: {}", invalid.body);
    }
    let saved = owner
        .post_form(
            "/admin/assistant",
            &[
                ("provider", "openai"),
                ("model", "company-model"),
                ("base_url", &fake.base_url),
                ("api_key", "company-secret-key"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let settings = owner.get_ok("/admin/assistant").await;
    assert!(settings.contains("company-model") && settings.contains("with your API key"), "{settings}");
    assert!(!settings.contains("company-secret-key"), "the key is never shown again");
    assert!(!owner.get_ok("/admin/secrets").await.contains("ASSISTANT_API_KEY"), "not an HTTP secret");

    let started = creator.post_form("/assistant/conversations", &[("text", "Hello?")]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let page = creator.get_ok(&conversation_path(&started.location)).await;
    assert!(
        page.contains("Hello from the company&#39;s own model.")
            || page.contains("Hello from the company's own model."),
        "{page}"
    );
    let sent = fake.requests().into_iter().next().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer company-secret-key"));
    assert_eq!(sent.body["model"], "company-model");
    let settings = owner.get_ok("/admin/assistant").await;
    let used = fake.requests()[0].body.to_string().len() / 4;
    assert!(settings.contains("have used <strong>"), "{settings}");
    assert!(
        !settings.contains("have used <strong>0</strong> input"),
        "the turn's tokens are counted (about {used}): {settings}"
    );
    // Company B is not affected by A's settings.
    let other = app.client_for(&app.b, "creator").await;
    assert!(other.get_ok("/assistant").await.contains("not set up on this server"));
    // Removing them goes back to the server's (none).
    assert_eq!(owner.post_form("/admin/assistant/delete", &[]).await.status, StatusCode::SEE_OTHER);
    assert!(creator.get_ok("/assistant").await.contains("not set up on this server"));
}
