//! Structured output: a JSON object that fits a schema, for `type: ai` workflow steps.
//!
//! Works the same with every provider and model, because it asks in words rather
//! than through a provider's own JSON mode: the schema goes in the system prompt, the
//! JSON object is found in the answer (code fences and stray prose tolerated) and
//! validated with the same validator as everything else; if it does not fit, the model
//! is shown the problems once and asked again.

use super::Provider;
use super::chat::{ChatRequest, ChatResponse, Message, StopReason, Usage};
use super::error::ProviderError;
use serde_json::Value;
use ticketflower_core::Problem;
use ticketflower_core::schema::Schema;

/// The answer budget for one structured answer.
pub(crate) const JSON_MAX_TOKENS: u32 = 4096;

/// How many `{` in an answer are tried as the start of the object.
const MAX_CANDIDATES: usize = 64;

impl Provider {
    /// Asks for one JSON object satisfying `schema`; returns it with the tokens used
    /// (both attempts, when a repair was needed). Fails with
    /// [`ProviderError::InvalidOutput`] when the repaired answer still does not fit.
    pub async fn complete_json(
        &self,
        system: &str,
        prompt: &str,
        schema: &Schema,
    ) -> Result<(Value, Usage), ProviderError> {
        let schema_text = serde_json::to_string_pretty(schema.source()).unwrap_or_else(|_| schema.source().to_string());
        let instructions = format!(
            "Answer with a single JSON object and nothing else: no explanation, no Markdown. \
             The object must satisfy this JSON Schema (draft 2020-12):\n{schema_text}"
        );
        let system =
            if system.trim().is_empty() { instructions } else { format!("{}\n\n{instructions}", system.trim_end()) };
        let mut request = ChatRequest {
            system,
            messages: vec![Message::user(prompt)],
            tools: Vec::new(),
            max_tokens: JSON_MAX_TOKENS,
            temperature: None,
        };

        let first = self.complete(&request).await?;
        let problems = match check(&first, schema) {
            Ok(value) => return Ok((value, first.usage)),
            Err(problems) => problems,
        };
        let listed: Vec<String> = problems.iter().map(|problem| format!("- {problem}")).collect();
        request.messages.push(Message::Assistant { text: first.text.clone(), tool_calls: Vec::new() });
        request.messages.push(Message::user(format!(
            "That answer cannot be used:\n{}\nAnswer again with only the corrected JSON object.",
            listed.join("\n")
        )));

        let second = self.complete(&request).await?;
        let usage = first.usage + second.usage;
        check(&second, schema)
            .map(|value| (value, usage))
            .map_err(|problems| ProviderError::InvalidOutput { provider: self.label().to_owned(), problems })
    }
}

fn check(response: &ChatResponse, schema: &Schema) -> Result<Value, Vec<Problem>> {
    let Some(value) = extract_json(&response.text) else {
        let message = if response.stop == StopReason::MaxTokens {
            "the answer was cut off before its JSON object was complete"
        } else {
            "the answer contains no JSON object"
        };
        return Err(vec![Problem::error("", message)]);
    };
    schema.validate(&value)?;
    Ok(value)
}

/// The first JSON object in a model's answer, which may be wrapped in a Markdown code
/// fence or surrounded by prose.
pub fn extract_json(text: &str) -> Option<Value> {
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(text.trim()) {
        return Some(value);
    }
    text.match_indices('{').take(MAX_CANDIDATES).find_map(|(start, _)| {
        // Parses one value from `start` and ignores whatever follows it.
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(value @ Value::Object(_))) => Some(value),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_object_however_it_is_wrapped() {
        let expected = json!({"priority": "high", "tags": ["a}"]});
        for answer in [
            r#"{"priority": "high", "tags": ["a}"]}"#,
            "```json\n{\"priority\": \"high\", \"tags\": [\"a}\"]}\n```",
            "Here it is {as asked}:\n```\n{\"priority\": \"high\", \"tags\": [\"a}\"]}\n```\nAnything else?",
        ] {
            assert_eq!(extract_json(answer), Some(expected.clone()), "{answer}");
        }
    }

    #[test]
    fn no_object_means_none() {
        assert_eq!(extract_json("I cannot help with that."), None);
        assert_eq!(extract_json("[1, 2]"), None);
        assert_eq!(extract_json("{\"cut\": \"off"), None);
    }
}
