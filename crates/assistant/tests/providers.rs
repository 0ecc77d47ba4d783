//! Both provider protocols, whole and streamed, against the fake provider server.
//! Nothing here reaches the network.

// Helpers outside `#[test]` functions unwrap too; a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use ticketflower_assistant::fake::{FAKE_API_KEY, FAKE_MODEL, FakeProvider, ReceivedRequest, Reply};
use ticketflower_assistant::provider::ProviderConfig;
use ticketflower_assistant::{
    ApiKey, ChatRequest, ChatResponse, Message, Provider, ProviderError, ProviderKind, StopReason, StreamEvent,
    Timeouts, ToolResult, ToolSpec, Usage,
};
use ticketflower_core::schema::Schema;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Whole,
    Streamed,
}

/// Every protocol in every mode.
const CASES: [(ProviderKind, Mode); 4] = [
    (ProviderKind::Anthropic, Mode::Whole),
    (ProviderKind::Anthropic, Mode::Streamed),
    (ProviderKind::OpenAi, Mode::Whole),
    (ProviderKind::OpenAi, Mode::Streamed),
];

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        system: "You design TicketFlower workflows.".into(),
        messages: vec![Message::user(text)],
        tools: vec![ToolSpec {
            name: "propose_workflow".into(),
            description: "Propose a complete workflow definition.".into(),
            input_schema: json!({"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}),
        }],
        max_tokens: 1024,
        temperature: Some(0.2),
    }
}

fn provider(config: ProviderConfig) -> Provider {
    Provider::new(config).unwrap()
}

/// Asks in the given mode; also returns the streamed events.
async fn ask(
    provider: &Provider,
    request: &ChatRequest,
    mode: Mode,
) -> (Result<ChatResponse, ProviderError>, Vec<StreamEvent>) {
    let mut events = Vec::new();
    let result = match mode {
        Mode::Whole => provider.complete(request).await,
        Mode::Streamed => provider.stream(request, &mut |event| events.push(event)).await,
    };
    (result, events)
}

async fn ask_fake(
    kind: ProviderKind,
    mode: Mode,
    script: Vec<Reply>,
) -> (Result<ChatResponse, ProviderError>, Vec<StreamEvent>, FakeProvider) {
    let fake = FakeProvider::start(script).await.unwrap();
    let (result, events) = ask(&provider(fake.config(kind)), &request("We get document edit requests."), mode).await;
    (result, events, fake)
}

fn streamed_text(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn only_request(fake: &FakeProvider) -> ReceivedRequest {
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_text_answer_arrives_whole_or_streamed_with_its_usage() {
    let text = "Happy to help. Who reviews an edit before it is published?";
    for (kind, mode) in CASES {
        let (result, events, fake) = ask_fake(kind, mode, vec![Reply::text(text).with_usage(42, 7)]).await;
        let response = result.unwrap();
        assert_eq!(response.text, text, "{kind:?} {mode:?}");
        assert_eq!(response.stop, StopReason::EndTurn);
        assert_eq!(response.usage, Usage { input_tokens: 42, output_tokens: 7 }, "{kind:?} {mode:?}");
        assert_eq!(response.model, FAKE_MODEL);
        assert!(response.tool_calls.is_empty());
        if mode == Mode::Streamed {
            assert!(events.len() > 3, "the text should stream in pieces: {events:?}");
            assert_eq!(streamed_text(&events), text);
        } else {
            assert!(events.is_empty());
        }
        let sent = only_request(&fake);
        assert_eq!(sent.protocol, kind);
        assert_eq!(sent.is_streaming(), mode == Mode::Streamed);
        assert_eq!(sent.system_prompt(), Some("You design TicketFlower workflows."));
        assert_eq!(sent.tool_names(), ["propose_workflow"]);
        assert_eq!(sent.body["model"], FAKE_MODEL);
    }
}

#[tokio::test]
async fn each_protocol_sends_its_own_headers_and_fields() {
    for (kind, mode) in CASES {
        let (result, _, fake) = ask_fake(kind, mode, vec![Reply::text("ok")]).await;
        result.unwrap();
        let sent = only_request(&fake);
        match kind {
            ProviderKind::Anthropic => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.header("x-api-key"), Some(FAKE_API_KEY));
                assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(sent.header("authorization"), None);
                assert_eq!(sent.body["max_tokens"], 1024);
                assert_eq!(sent.body["tools"][0]["input_schema"]["required"], json!(["title"]));
                assert_eq!(sent.messages(), [json!({"role": "user", "content": "We get document edit requests."})]);
            }
            ProviderKind::OpenAi => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(sent.header("authorization"), Some(format!("Bearer {FAKE_API_KEY}").as_str()));
                assert_eq!(sent.header("x-api-key"), None);
                // A local server, so the field every server knows.
                assert_eq!(sent.body["max_tokens"], 1024);
                assert_eq!(sent.body["tools"][0]["type"], "function");
                assert_eq!(sent.body["tools"][0]["function"]["parameters"]["required"], json!(["title"]));
                assert_eq!(
                    sent.messages()[0],
                    json!({"role": "system", "content": "You design TicketFlower workflows."})
                );
                if mode == Mode::Streamed {
                    assert_eq!(sent.body["stream_options"], json!({"include_usage": true}));
                }
            }
        }
        assert_eq!(sent.body["temperature"], json!(0.2));
    }
}

#[tokio::test]
async fn an_openai_base_url_works_with_or_without_v1() {
    let fake = FakeProvider::start([Reply::text("one"), Reply::text("two")]).await.unwrap();
    for base_url in [fake.base_url.clone(), format!("{}/v1/", fake.base_url)] {
        let config = fake.config(ProviderKind::OpenAi).with_base_url(base_url);
        provider(config).complete(&request("hi")).await.unwrap();
    }
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn tool_call_arguments_are_assembled_from_many_streamed_pieces() {
    let arguments = json!({
        "title": "Document edit request",
        "tasks": [{"key": "edit", "type": "form", "assignee": {"role": "editor"}}, {"key": "review", "type": "approval"}],
        "note": "quotes \" and unicode \u{1F33C} survive",
    });
    for (kind, mode) in CASES {
        let reply = Reply::tool_call("propose_workflow", arguments.clone())
            .with_text("Here is a first version.")
            .and_tool_call("simulate_workflow", json!({}));
        let (result, events, _fake) = ask_fake(kind, mode, vec![reply]).await;
        let response = result.unwrap();
        assert_eq!(response.stop, StopReason::ToolUse, "{kind:?} {mode:?}");
        assert_eq!(response.text, "Here is a first version.");
        let calls: Vec<_> =
            response.tool_calls.iter().map(|call| (call.name.as_str(), call.arguments.clone())).collect();
        assert_eq!(
            calls,
            [("propose_workflow", Ok(arguments.clone())), ("simulate_workflow", Ok(json!({})))],
            "{kind:?} {mode:?}"
        );
        assert_ne!(response.tool_calls[0].id, response.tool_calls[1].id);

        if mode == Mode::Streamed {
            let first = &response.tool_calls[0];
            assert!(events.contains(&StreamEvent::ToolCallStarted { id: first.id.clone(), name: first.name.clone() }));
            let fragments: Vec<&str> = events
                .iter()
                .filter_map(|event| match event {
                    StreamEvent::ToolCallArgumentsDelta { id, fragment } if *id == first.id => Some(fragment.as_str()),
                    _ => None,
                })
                .collect();
            assert!(fragments.len() > 10, "{kind:?}: arguments came in {} pieces", fragments.len());
            assert_eq!(serde_json::from_str::<Value>(&fragments.concat()).unwrap(), arguments);
        }
    }
}

#[tokio::test]
async fn tool_results_go_back_in_each_protocols_format() {
    for (kind, mode) in CASES {
        let fake = FakeProvider::start([
            Reply::tool_call("list_workflows", json!({})).and_tool_call("get_workflow", json!({"key": "missing"})),
            Reply::text("You have no workflows yet."),
        ])
        .await
        .unwrap();
        let provider = provider(fake.config(kind));
        let mut conversation = request("What workflows do we have?");
        let (first, _) = ask(&provider, &conversation, mode).await;
        let first = first.unwrap();
        let (list, get) = (first.tool_calls[0].id.clone(), first.tool_calls[1].id.clone());
        conversation.messages.push(Message::assistant(&first));
        conversation.messages.push(Message::tool_results(vec![
            ToolResult::ok(list.clone(), "[]"),
            ToolResult::error(get.clone(), "no workflow has the key \"missing\""),
        ]));
        let (second, _) = ask(&provider, &conversation, mode).await;
        assert_eq!(second.unwrap().text, "You have no workflows yet.");

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        let sent = requests[1].messages();
        match kind {
            ProviderKind::Anthropic => {
                assert_eq!(
                    sent[1..],
                    [
                        json!({"role": "assistant", "content": [
                            {"type": "tool_use", "id": list, "name": "list_workflows", "input": {}},
                            {"type": "tool_use", "id": get, "name": "get_workflow", "input": {"key": "missing"}},
                        ]}),
                        json!({"role": "user", "content": [
                            {"type": "tool_result", "tool_use_id": list, "content": "[]", "is_error": false},
                            {"type": "tool_result", "tool_use_id": get, "content": "no workflow has the key \"missing\"", "is_error": true},
                        ]}),
                    ],
                    "{mode:?}"
                );
            }
            ProviderKind::OpenAi => {
                assert_eq!(
                    sent[2..],
                    [
                        json!({"role": "assistant", "content": null, "tool_calls": [
                            {"id": list, "type": "function", "function": {"name": "list_workflows", "arguments": "{}"}},
                            {"id": get, "type": "function", "function": {"name": "get_workflow", "arguments": "{\"key\":\"missing\"}"}},
                        ]}),
                        json!({"role": "tool", "tool_call_id": list, "content": "[]"}),
                        json!({"role": "tool", "tool_call_id": get, "content": "Error: no workflow has the key \"missing\""}),
                    ],
                    "{mode:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn malformed_tool_call_json_is_kept_as_raw_text() {
    let raw = r#"{"title": "Document edit", "tasks": [{"key": "edit""#;
    for (kind, mode) in CASES {
        let (result, _, _fake) = ask_fake(kind, mode, vec![Reply::malformed_tool_call("propose_workflow", raw)]).await;
        let response = result.unwrap();
        assert_eq!(response.tool_calls.len(), 1);
        assert_eq!(response.tool_calls[0].arguments, Err(raw.to_owned()), "{kind:?} {mode:?}");
        assert_eq!(response.stop, StopReason::ToolUse);
    }
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_waited_out_and_retried() {
    for (kind, mode) in CASES {
        let script = vec![Reply::error(429, "Rate limit reached, slow down").retry_after(0), Reply::text("ok now")];
        let (result, _, fake) = ask_fake(kind, mode, script).await;
        assert_eq!(result.unwrap().text, "ok now", "{kind:?} {mode:?}");
        assert_eq!(fake.requests().len(), 2);
        assert_eq!(fake.remaining(), 0);
    }
}

#[tokio::test]
async fn a_retry_after_too_long_to_wait_fails_at_once_saying_when_to_try_again() {
    for (kind, mode) in CASES {
        let (result, _, fake) = ask_fake(kind, mode, vec![Reply::error(429, "slow down").retry_after(120)]).await;
        let error = result.unwrap_err();
        assert!(
            matches!(&error, ProviderError::RateLimited { retry_after: Some(wait), .. } if *wait == Duration::from_secs(120))
        );
        assert!(error.to_string().contains("try again in 120 seconds"), "{error}");
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn server_errors_are_retried_up_to_the_limit_then_reported_unavailable() {
    for (kind, mode) in CASES {
        let script = vec![Reply::error(500, "boom"), Reply::error(503, "down"), Reply::error(529, "Overloaded")];
        let (result, _, fake) = ask_fake(kind, mode, script).await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::Unavailable { .. }), "{kind:?} {mode:?}: {error:?}");
        assert!(error.to_string().contains("HTTP 529: Overloaded"), "{error}");
        assert_eq!(fake.requests().len(), 3, "max_attempts is 3");
    }
}

#[tokio::test]
async fn a_refused_key_is_unauthorized_and_not_retried() {
    for (kind, mode) in CASES {
        let (result, _, fake) =
            ask_fake(kind, mode, vec![Reply::error(401, "invalid x-api-key"), Reply::text("never")]).await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::Unauthorized { .. }), "{kind:?} {mode:?}: {error:?}");
        assert!(error.to_string().contains("invalid x-api-key"));
        assert!(error.to_string().contains("TICKETFLOWER_LLM_API_KEY"));
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn an_exhausted_quota_is_reported_and_not_retried() {
    let message = "You exceeded your current quota, please check your plan and billing details.";
    for (kind, mode) in CASES {
        let (result, _, fake) = ask_fake(kind, mode, vec![Reply::error(429, message), Reply::text("never")]).await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::QuotaExceeded { .. }), "{kind:?} {mode:?}: {error:?}");
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn other_client_errors_are_rejected_with_the_servers_words() {
    for (kind, mode) in CASES {
        let (result, _, fake) = ask_fake(kind, mode, vec![Reply::error(404, "model: fake-model not found")]).await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::Rejected { status: 404, .. }), "{error:?}");
        assert!(error.to_string().contains("model: fake-model not found"));
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_slow_server_times_out_without_retrying() {
    let timeouts = Timeouts { connect: Duration::from_secs(5), request: Duration::from_millis(200) };
    for (kind, mode) in CASES {
        let fake = FakeProvider::start([Reply::text("too late").delayed(Duration::from_secs(3))]).await.unwrap();
        let provider = provider(fake.config(kind).with_timeouts(timeouts));
        let (result, _) = ask(&provider, &request("hello"), mode).await;
        let error = result.unwrap_err();
        assert!(
            matches!(error, ProviderError::Timeout { after, .. } if after == timeouts.request),
            "{kind:?} {mode:?}: {error:?}"
        );
        assert!(error.to_string().contains("200 ms"), "{error}");
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable_after_retries() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let fake = FakeProvider::start([]).await.unwrap();
    for (kind, mode) in CASES {
        let provider = provider(fake.config(kind).with_base_url(format!("http://{address}")));
        let (result, _) = ask(&provider, &request("hello"), mode).await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::Unavailable { .. }), "{kind:?} {mode:?}: {error:?}");
        assert!(error.to_string().contains("cannot connect"), "{error}");
    }
}

#[tokio::test]
async fn a_garbage_body_is_a_bad_response_quoting_its_beginning() {
    for (kind, mode) in CASES {
        let (result, _, _fake) =
            ask_fake(kind, mode, vec![Reply::garbage("<html><body>502 Bad Gateway</body></html>")]).await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::BadResponse { .. }), "{kind:?} {mode:?}: {error:?}");
        assert!(error.to_string().contains("502 Bad Gateway"), "{error}");
    }
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    let secret = "sk-live-THIS-MUST-NOT-LEAK-0123456789";
    for (kind, mode) in CASES {
        let fake = FakeProvider::start([
            Reply::error(401, format!("Incorrect API key provided: {secret}")),
            Reply::garbage(format!("echo {secret}")),
        ])
        .await
        .unwrap();
        let config = ProviderConfig { api_key: Some(ApiKey::new(secret)), ..fake.config(kind) };
        let provider = provider(config.clone());
        let (unauthorized, _) = ask(&provider, &request("hi"), mode).await;
        let (garbage, _) = ask(&provider, &request("hi"), mode).await;
        assert_eq!(
            fake.requests()[0]
                .header(if kind == ProviderKind::Anthropic { "x-api-key" } else { "authorization" })
                .map(|value| value.contains(secret)),
            Some(true)
        );
        for shown in [
            format!("{config:?}"),
            format!("{provider:?}"),
            format!("{unauthorized:?}"),
            unauthorized.unwrap_err().to_string(),
            format!("{garbage:?}"),
            garbage.unwrap_err().to_string(),
        ] {
            assert!(!shown.contains(secret), "{kind:?} {mode:?} leaked the key: {shown}");
        }
    }
}

fn ticket_schema() -> Schema {
    Schema::compile(&json!({
        "type": "object",
        "required": ["priority", "summary"],
        "properties": {"priority": {"enum": ["low", "normal", "high"]}, "summary": {"type": "string"}},
    }))
    .unwrap()
}

#[tokio::test]
async fn structured_output_is_repaired_once_from_the_schemas_complaints() {
    for kind in [ProviderKind::Anthropic, ProviderKind::OpenAi] {
        let fake = FakeProvider::start([
            Reply::text("Sure!\n```json\n{\"priority\": \"urgent\"}\n```").with_usage(100, 10),
            Reply::text("{\"priority\": \"high\", \"summary\": \"The printer is on fire\"}").with_usage(150, 12),
        ])
        .await
        .unwrap();
        let (value, usage) = provider(fake.config(kind))
            .complete_json("You triage tickets.", "The printer is on fire!", &ticket_schema())
            .await
            .unwrap();
        assert_eq!(value, json!({"priority": "high", "summary": "The printer is on fire"}));
        assert_eq!(usage, Usage { input_tokens: 250, output_tokens: 22 }, "both attempts count");

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        let system = requests[0].system_prompt().unwrap();
        assert!(system.starts_with("You triage tickets."));
        assert!(system.contains("\"required\"") && system.contains("single JSON object"), "{system}");
        let complaint = requests[1].messages().last().unwrap()["content"].as_str().unwrap().to_owned();
        assert!(complaint.contains("/priority") && complaint.contains("/summary: summary is required"), "{complaint}");
        let previous = &requests[1].messages()[requests[1].messages().len() - 2];
        assert_eq!(previous["role"], "assistant");
    }
}

#[tokio::test]
async fn structured_output_that_stays_invalid_is_an_error_listing_the_problems() {
    for kind in [ProviderKind::Anthropic, ProviderKind::OpenAi] {
        let fake = FakeProvider::start([Reply::text("No JSON for you."), Reply::text("{\"priority\": \"high\"}")])
            .await
            .unwrap();
        let error = provider(fake.config(kind)).complete_json("", "Triage this.", &ticket_schema()).await.unwrap_err();
        let ProviderError::InvalidOutput { problems, .. } = &error else { panic!("{error:?}") };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pointer, "/summary");
        assert!(error.to_string().contains("summary is required"), "{error}");
        let first_complaint = fake.requests()[1].messages().last().unwrap()["content"].to_string();
        assert!(first_complaint.contains("no JSON object"), "{first_complaint}");
    }
}

#[tokio::test]
async fn a_fake_with_no_replies_left_says_so() {
    let fake = FakeProvider::start([]).await.unwrap();
    let error = provider(fake.config(ProviderKind::OpenAi)).complete(&request("hi")).await.unwrap_err();
    assert!(error.to_string().contains("no reply left"), "{error}");
}
#[path = "providers/designer.rs"]
mod designer;

#[path = "providers/eval.rs"]
mod eval;
