//! The designer's turns against scripted models on both protocols: plan then
//! proposal, repair from the validator's errors, malformed tool calls, a rate
//! limit and a timeout, a model that tries to activate, and placeholders when
//! repairs run out.

use super::CASES;
use super::Mode;
use serde_json::{Value, json};
use std::time::Duration;
use ticketflower_assistant::designer::{
    CompanyContext, DesignEvent, Designer, DesignerOptions, Outcome, Proposal, RoleHolders, Turn, WorkflowSummary,
};
use ticketflower_assistant::fake::{FakeProvider, ReceivedRequest, Reply, scripts};
use ticketflower_assistant::{Message, Provider, ProviderError, ProviderKind, Timeouts};

fn context() -> CompanyContext {
    CompanyContext {
        company_name: "Acme Editing".into(),
        roles: vec![RoleHolders { role: "editor".into(), users: 2 }, RoleHolders { role: "author".into(), users: 5 }],
        workflows: vec![],
        http_capabilities: vec![],
    }
}

fn designer(fake: &FakeProvider, kind: ProviderKind, mode: Mode) -> Designer {
    let options = DesignerOptions { stream: mode == Mode::Streamed, ..DesignerOptions::default() };
    Designer::new(Provider::new(fake.config(kind)).unwrap(), options)
}

async fn turn(
    designer: &Designer,
    context: &CompanyContext,
    history: &[Message],
    text: &str,
) -> (Result<Turn, ProviderError>, Vec<DesignEvent>) {
    let mut events = Vec::new();
    let result = designer.turn(context, history, text, &mut |event| events.push(event)).await;
    (result, events)
}

fn proposal(turn: &Turn) -> &Proposal {
    match &turn.outcome {
        Outcome::Proposal(proposal) => proposal,
        other => panic!("expected a proposal, got {other:?}"),
    }
}

/// The tool results the model was sent in a request, as (is_error, content).
fn tool_results(request: &ReceivedRequest) -> Vec<(bool, String)> {
    let mut results = Vec::new();
    for message in request.messages() {
        match request.protocol {
            ProviderKind::Anthropic => {
                for block in message["content"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    if block["type"] == "tool_result" {
                        results.push((block["is_error"] == json!(true), block["content"].as_str().unwrap().to_owned()));
                    }
                }
            }
            ProviderKind::OpenAi => {
                if message["role"] == "tool" {
                    let content = message["content"].as_str().unwrap().to_owned();
                    results.push((content.starts_with("Error"), content));
                }
            }
        }
    }
    results
}

#[tokio::test]
async fn a_document_edit_request_becomes_a_plan_then_a_checked_proposal() {
    for (kind, mode) in CASES {
        let fake = FakeProvider::start(scripts::document_edit()).await.unwrap();
        let designer = designer(&fake, kind, mode);
        let context = context();

        let (first, events) = turn(&designer, &context, &[], scripts::DOCUMENT_EDIT_REQUEST).await;
        let first = first.unwrap();
        let Outcome::Plan { steps, .. } = &first.outcome else { panic!("expected a plan: {:?}", first.outcome) };
        assert_eq!(steps.len(), 3);
        assert_eq!(first.text, "Let me check the steps with you first.");
        if mode == Mode::Streamed {
            let streamed: String = events
                .iter()
                .filter_map(|e| match e {
                    DesignEvent::Text(t) => Some(t.as_str()),
                    DesignEvent::Working(_) => None,
                })
                .collect();
            assert_eq!(streamed, first.text, "{kind:?}");
        }
        // The user's message, the model's plan call, and the plan's tool result.
        assert_eq!(first.messages.len(), 3, "{:?}", first.messages);
        assert_eq!(first.messages[0], Message::user(scripts::DOCUMENT_EDIT_REQUEST));

        let (second, events) = turn(&designer, &context, &first.messages, "Yes, build it.").await;
        let second = second.unwrap();
        let proposal = proposal(&second);
        assert!(proposal.is_clean(), "{}", proposal.report());
        assert_eq!(proposal.key, "document-edit");
        assert_eq!(proposal.repairs, 0);
        assert!(proposal.tasks.iter().all(|t| t.request_words.is_some() && !t.misquoted), "{:?}", proposal.tasks);
        assert_eq!(proposal.simulation.as_ref().unwrap().path, ["edit", "answer", "edit"]);
        assert!(proposal.base.is_none());
        assert!(events.iter().any(|e| matches!(e, DesignEvent::Working(w) if w.contains("validating"))));
        assert_eq!(fake.remaining(), 0);

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        let system = requests[0].system_prompt().unwrap();
        assert!(system.contains("# The workflow guide") && system.contains("- editor (2)"), "{kind:?}");
        assert_eq!(
            requests[0].tool_names(),
            [
                "ask_clarifying_question",
                "propose_plan",
                "propose_workflow",
                "simulate_workflow",
                "get_workflow",
                "list_workflows"
            ]
        );
        // The second request replays the plan call with its result before the approval.
        let results = tool_results(&requests[1]);
        assert_eq!(results.len(), 1, "{kind:?}");
        assert!(results[0].1.contains("The plan is shown to the user"));
        if kind == ProviderKind::Anthropic {
            // Tool results and the user's next words travel as one user turn.
            let last = requests[1].messages().last().unwrap();
            assert_eq!(last["role"], "user");
            assert_eq!(last["content"][0]["type"], "tool_result");
            assert_eq!(last["content"][1], json!({"type": "text", "text": "Yes, build it."}));
        }
    }
}

fn broken_document_edit() -> Value {
    let mut document = scripts::document_edit_document();
    document["transitions"][1]["to"] = json!("anwser");
    document["tasks"][0]["asign"] = json!({"role": "editor"});
    document
}

#[tokio::test]
async fn an_invalid_proposal_goes_back_to_the_model_with_pointers_and_is_repaired() {
    for (kind, mode) in CASES {
        let script = vec![
            Reply::tool_call("propose_workflow", json!({"document": broken_document_edit(), "summary": "first try"})),
            scripts::propose_document_edit(),
        ];
        let fake = FakeProvider::start(script).await.unwrap();
        let (result, _) = turn(&designer(&fake, kind, mode), &context(), &[], scripts::DOCUMENT_EDIT_REQUEST).await;
        let turn = result.unwrap();
        let proposal = proposal(&turn);
        assert!(proposal.is_clean(), "{}", proposal.report());
        assert_eq!((proposal.repairs, turn.repairs, turn.steps), (1, 1, 2));
        let requests = fake.requests();
        let results = tool_results(&requests[1]);
        assert_eq!(results.len(), 1);
        let (is_error, content) = &results[0];
        assert!(is_error, "{kind:?}: {content}");
        assert!(content.contains("/transitions/1/to"), "{content}");
        assert!(content.contains("/tasks/0/asign"), "{content}");
        assert!(content.contains("call propose_workflow again"), "{content}");
    }
}

#[tokio::test]
async fn what_repairs_cannot_fix_is_shown_as_placeholders_that_block_saving() {
    let broken = || Reply::tool_call("propose_workflow", json!({"document": broken_document_edit(), "summary": "s"}));
    let fake = FakeProvider::start([broken(), broken(), broken()]).await.unwrap();
    let options = DesignerOptions { max_repairs: 2, stream: false, ..DesignerOptions::default() };
    let designer = Designer::new(Provider::new(fake.config(ProviderKind::Anthropic)).unwrap(), options);
    let (result, _) = turn(&designer, &context(), &[], "edit documents").await;
    let turn = result.unwrap();
    let proposal = proposal(&turn);
    assert!(!proposal.is_valid());
    assert_eq!(proposal.repairs, 2);
    let pointers: Vec<&str> = proposal.placeholders().map(|p| p.pointer.as_str()).collect();
    assert!(pointers.contains(&"/transitions/1/to") && pointers.contains(&"/tasks/0/asign"), "{pointers:?}");
    // The third proposal is not sent back for repair: the user sees it.
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.remaining(), 0);
}

#[tokio::test]
async fn a_model_that_stops_repairing_still_shows_its_proposal_with_placeholders() {
    let script = vec![
        Reply::tool_call("propose_workflow", json!({"document": broken_document_edit(), "summary": "s"})),
        Reply::text("I could not fix the transition."),
    ];
    let fake = FakeProvider::start(script).await.unwrap();
    let (result, _) =
        turn(&designer(&fake, ProviderKind::OpenAi, Mode::Whole), &context(), &[], "edit documents").await;
    let turn = result.unwrap();
    assert!(!proposal(&turn).is_valid());
    assert_eq!(turn.text, "I could not fix the transition.");
}

#[tokio::test]
async fn malformed_tool_call_json_is_answered_with_the_parse_error_and_retried() {
    for (kind, mode) in CASES {
        let script = vec![
            Reply::malformed_tool_call("propose_workflow", "{\"document\": {\"key\": \"document-edit\", "),
            scripts::propose_document_edit(),
        ];
        let fake = FakeProvider::start(script).await.unwrap();
        let (result, _) = turn(&designer(&fake, kind, mode), &context(), &[], scripts::DOCUMENT_EDIT_REQUEST).await;
        let turn = result.unwrap();
        assert!(proposal(&turn).is_clean());
        // A call that did not parse is not a repair round.
        assert_eq!(turn.repairs, 0);
        let results = tool_results(&fake.requests()[1]);
        assert!(results[0].0 && results[0].1.contains("not valid JSON"), "{kind:?}: {results:?}");
    }
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_and_a_timeout_is_a_clear_error() {
    let script = vec![Reply::error(429, "slow down").retry_after(0), scripts::propose_document_edit()];
    let fake = FakeProvider::start(script).await.unwrap();
    let (result, _) =
        turn(&designer(&fake, ProviderKind::Anthropic, Mode::Streamed), &context(), &[], "edit documents").await;
    assert!(proposal(&result.unwrap()).is_clean());
    assert_eq!(fake.requests().len(), 2);

    let timeouts = Timeouts { connect: Duration::from_secs(5), request: Duration::from_millis(200) };
    let fake = FakeProvider::start([Reply::text("late").delayed(Duration::from_secs(3))]).await.unwrap();
    let provider = Provider::new(fake.config(ProviderKind::OpenAi).with_timeouts(timeouts)).unwrap();
    let designer = Designer::new(provider, DesignerOptions::default());
    let (result, _) = turn(&designer, &context(), &[], "edit documents").await;
    let error = result.unwrap_err();
    assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("did not answer within"), "{error}");
}

#[tokio::test]
async fn a_model_that_tries_to_activate_is_told_it_cannot() {
    for (kind, mode) in CASES {
        let script = vec![
            Reply::tool_call("activate_workflow", json!({"key": "document-edit"})),
            Reply::text("The workflow is ready for you to review and activate."),
        ];
        let fake = FakeProvider::start(script).await.unwrap();
        let (result, _) = turn(&designer(&fake, kind, mode), &context(), &[], "activate it").await;
        let turn = result.unwrap();
        assert_eq!(turn.outcome, Outcome::Reply);
        let results = tool_results(&fake.requests()[1]);
        assert!(results[0].0, "{kind:?}");
        assert!(results[0].1.contains("You cannot save, activate"), "{}", results[0].1);
    }
}

#[tokio::test]
async fn a_change_to_an_existing_workflow_reads_it_and_names_the_base_version() {
    let mut context = context();
    context.workflows.push(WorkflowSummary {
        key: "document-edit".into(),
        title: "Document Edit".into(),
        version: 2,
        status: "ACTIVE".into(),
        document: scripts::document_edit_document(),
    });
    let mut changed = scripts::document_edit_document();
    changed["tasks"][0]["due"] = json!("P1D");
    let script = vec![
        Reply::tool_call("list_workflows", json!({})).and_tool_call("get_workflow", json!({"key": "document-edit"})),
        Reply::tool_call("get_workflow", json!({"key": "other-company-workflow"})),
        Reply::tool_call("simulate_workflow", json!({"document": changed.clone()})),
        Reply::tool_call(
            "propose_workflow",
            json!({"document": changed, "summary": "Edits are due in one day.", "request_words": {"edit": "one day"}}),
        ),
    ];
    let fake = FakeProvider::start(script).await.unwrap();
    let (result, _) = turn(
        &designer(&fake, ProviderKind::OpenAi, Mode::Streamed),
        &context,
        &[],
        "Editors should finish within one day.",
    )
    .await;
    let turn = result.unwrap();
    let proposal = proposal(&turn);
    assert_eq!(proposal.base.as_ref().map(|b| b.version), Some(2));
    assert_eq!(proposal.tasks[0].request_words.as_deref(), Some("one day"));
    assert!(proposal.tasks[1].request_words.is_none());
    let requests = fake.requests();
    let results = tool_results(&requests[1]);
    assert!(results[0].1.contains("\"key\":\"document-edit\""), "{results:?}");
    assert!(results[1].1.contains("\"version\":2"), "{results:?}");
    let results = tool_results(&requests[2]);
    assert!(results[2].0 && results[2].1.contains("no workflow \"other-company-workflow\""), "{results:?}");
    let results = tool_results(&requests[3]);
    assert!(results[3].1.contains("\"status\":\"IN_PROGRESS\""), "{results:?}");
}

#[tokio::test]
async fn a_model_that_never_stops_calling_tools_gives_up_at_the_step_limit() {
    let script: Vec<Reply> = (0..5).map(|_| Reply::tool_call("list_workflows", json!({}))).collect();
    let fake = FakeProvider::start(script).await.unwrap();
    let options = DesignerOptions { max_steps: 4, stream: false, ..DesignerOptions::default() };
    let designer = Designer::new(Provider::new(fake.config(ProviderKind::Anthropic)).unwrap(), options);
    let (result, _) = turn(&designer, &context(), &[], "hello").await;
    let turn = result.unwrap();
    assert!(matches!(&turn.outcome, Outcome::GaveUp { reason } if reason.contains("4 steps")), "{:?}", turn.outcome);
    assert_eq!(fake.requests().len(), 4);
}
