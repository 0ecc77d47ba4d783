//! Server-sent events, as both providers stream their answers.
//!
//! A minimal parser of the `text/event-stream` format: bytes arrive in arbitrary
//! pieces (a line, or even a UTF-8 character, may be split between two), lines end in
//! LF, CRLF or CR, `event:` names the event, `data:` lines accumulate (joined by
//! newlines), lines starting with `:` are comments, and a blank line dispatches the
//! event. `id:` and `retry:` are ignored: model answers are not resumed.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `"message"` when there was none.
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the stream; returns the events it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut index = 0;
        while index < self.pending.len() {
            let end_of_line = match self.pending[index] {
                b'\n' => Some(index + 1),
                // A CR at the very end may be the first half of a CRLF: wait for more.
                b'\r' if index + 1 == self.pending.len() => break,
                b'\r' if self.pending[index + 1] == b'\n' => Some(index + 2),
                b'\r' => Some(index + 1),
                _ => None,
            };
            if let Some(next) = end_of_line {
                let line = String::from_utf8_lossy(&self.pending[start..index]).into_owned();
                events.extend(self.line(&line));
                start = next;
                index = next;
            } else {
                index += 1;
            }
        }
        self.pending.drain(..start);
        events
    }

    /// The stream ended. An event not yet closed by a blank line is dispatched anyway:
    /// some servers omit the final blank line, and losing the last event would lose
    /// the end of the answer.
    pub fn finish(mut self) -> Option<SseEvent> {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            if let Some(event) = self.line(line.trim_end_matches('\r')) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseEvent { event: event.filter(|name| !name.is_empty()).unwrap_or_else(|| "message".to_owned()), data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive comment\n\
event: message_start\n\
data: {\"a\":1}\n\
\n\
data: first line\r\n\
data:second line\r\n\
\r\n\
event: ping\r\
data: {\"type\": \"ping\"}\r\
\r\
id: 7\n\
retry: 1000\n\
\n\
data: caf\u{e9} \u{1F33C}\n\n";

    fn expected() -> Vec<SseEvent> {
        let event = |event: &str, data: &str| SseEvent { event: event.to_owned(), data: data.to_owned() };
        vec![
            event("message_start", "{\"a\":1}"),
            event("message", "first line\nsecond line"),
            event("ping", "{\"type\": \"ping\"}"),
            event("message", "caf\u{e9} \u{1F33C}"),
        ]
    }

    fn parse_in_pieces(bytes: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events: Vec<SseEvent> = bytes.chunks(piece).flat_map(|chunk| parser.push(chunk)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn parses_a_whole_stream() {
        assert_eq!(parse_in_pieces(STREAM.as_bytes(), STREAM.len()), expected());
    }

    #[test]
    fn parses_the_same_events_however_the_bytes_are_split() {
        for piece in 1..=17 {
            assert_eq!(parse_in_pieces(STREAM.as_bytes(), piece), expected(), "pieces of {piece} bytes");
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert_eq!(parse_in_pieces(b"event: nothing\n\n: just a comment\n\n", 4), vec![]);
    }

    #[test]
    fn the_last_event_counts_even_without_a_blank_line() {
        let events = parse_in_pieces(b"data: [DONE]", 5);
        assert_eq!(events, vec![SseEvent { event: "message".into(), data: "[DONE]".into() }]);
    }

    #[test]
    fn text_that_is_not_an_event_stream_yields_nothing() {
        assert_eq!(parse_in_pieces(b"<html><body>Bad gateway</body></html>\n", 8), vec![]);
    }
}
